"""Printing through a CUPS queue: submit with ``lp``, then wait until CUPS says how it ended.

A job counts as printed only in ``job-state`` completed (RFC 8011 §5.3.7). Aborted or
canceled jobs, a stopped (disabled) queue and a job that does not finish in time raise
``PrintError``; the last two also cancel the job, so a report the kiosk called failed does
not come out of the printer later for the next person at the tray.

What "completed" means depends on the queue's backend: for ``socket://`` (AppSocket) it is
"the printer took all bytes and closed the connection", for ``ipp://`` it is the printer's own
job state. The document goes to ``lp`` on standard input, so no patient data touches the disk
outside the CUPS spool.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import subprocess
import time
from itertools import count

import httpx

from kiosk.printing import ipp
from kiosk.printing.errors import PrintError
from kiosk.printing.printers import Document

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"request id is (?P<queue>\S+)-(?P<job>\d+)")
_FAILED: dict[int, str] = {ipp.JobState.CANCELED: "canceled", ipp.JobState.ABORTED: "aborted"}
_STATE_NAMES = {state.value: state.name.lower().replace("_", " ") for state in ipp.JobState}
#: printer-state "stopped" (RFC 8011 §5.4.11).
PRINTER_STOPPED = 5


class CupsPrinter:
    """A CUPS queue on a CUPS server (``host:port``, as for ``lp -h``)."""

    def __init__(
        self,
        queue: str,
        *,
        server: str = "localhost:631",
        timeout: float = 60.0,
        poll_interval: float = 0.25,
    ) -> None:
        if not re.fullmatch(r"[^\s/#]+", queue):
            raise ValueError(f"invalid CUPS queue name {queue!r}")
        if not re.fullmatch(r"[\w.-]+:\d+", server):
            raise ValueError(f"CUPS server must be host:port, not {server!r}")
        self.queue = queue
        self.server = server
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._request_ids = count(1)

    def submit(self, document: Document) -> str:
        job_id = self._lp(document)
        job = f"{self.queue}-{job_id}"
        log.info("submitted %s as CUPS job %s", document.title, job)
        self._wait(job_id)
        log.info("CUPS job %s completed", job)
        return job

    def _run(self, command: list[str], data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        # LC_ALL=C: lp's "request id is …" line is translated in other locales.
        env = os.environ | {"LC_ALL": "C"}
        try:
            return subprocess.run(
                command, input=data, capture_output=True, env=env, timeout=30, check=False
            )
        except FileNotFoundError as error:
            raise PrintError(f"{command[0]} not found: install cups-client") from error
        except subprocess.TimeoutExpired as error:
            raise PrintError(f"{command[0]} got no answer from CUPS at {self.server}") from error

    def _lp(self, document: Document) -> int:
        done = self._run(
            ["lp", "-h", self.server, "-d", self.queue, "-t", document.title], document.data
        )
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        match = _REQUEST_ID.search(output)
        if done.returncode != 0 or match is None:
            reason = " ".join(output.split()).removeprefix("lp: ").removeprefix("Error - ")
            raise PrintError(f"CUPS did not take the job: {reason or f'lp exit {done.returncode}'}")
        return int(match["job"])

    def _cancel(self, job_id: int) -> None:
        done = self._run(["cancel", "-h", self.server, f"{self.queue}-{job_id}"])
        if done.returncode != 0:
            log.warning("could not cancel CUPS job %s: %s", job_id, done.stderr.decode().strip())

    def _ask(self, request: bytes, path: str) -> ipp.IppResponse:
        url = f"http://{self.server}{path}"
        try:
            reply = httpx.post(
                url, content=request, headers={"Content-Type": "application/ipp"}, timeout=10
            )
            reply.raise_for_status()
            answer = ipp.decode_response(reply.content)
        except (httpx.HTTPError, ipp.IppError) as error:
            raise PrintError(f"cannot ask CUPS at {self.server} about the job: {error}") from error
        if not answer.ok:
            message = answer.texts("status-message")
            detail = f" {message[0]}" if message else ""
            raise PrintError(f"CUPS answered status 0x{answer.status:04x}{detail}")
        return answer

    def _job(self, job_id: int) -> ipp.IppResponse:
        request = ipp.get_job_attributes(
            f"ipp://{self.server}/jobs/{job_id}",
            user=getpass.getuser(),
            request_id=next(self._request_ids),
        )
        return self._ask(request, "/jobs/")

    def _stopped_reason(self) -> str | None:
        """Why the queue is stopped (disabled, or stopped by a failing backend), or None."""
        request = ipp.get_printer_attributes(
            f"ipp://{self.server}/printers/{self.queue}",
            user=getpass.getuser(),
            request_id=next(self._request_ids),
        )
        answer = self._ask(request, f"/printers/{self.queue}")
        if answer.first("printer-state") != PRINTER_STOPPED:
            return None
        message = " ".join(answer.texts("printer-state-message"))
        return message or ", ".join(answer.texts("printer-state-reasons")) or "stopped"

    def _wait(self, job_id: int) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            job = self._job(job_id)
            value = job.first("job-state")
            state = value if isinstance(value, int) else 0
            reasons = job.texts("job-state-reasons")
            message = " ".join(job.texts("job-printer-state-message"))
            if state == ipp.JobState.COMPLETED:
                return
            if state in _FAILED:
                detail = message or ", ".join(reasons)
                raise PrintError(f"CUPS job {self.queue}-{job_id} {_FAILED[state]}: {detail}")
            # A job waiting on a stopped queue shows only job-state pending.
            if state != ipp.JobState.PROCESSING or "printer-stopped" in reasons:
                stopped = self._stopped_reason()
                if stopped is not None:
                    self._cancel(job_id)
                    raise PrintError(f"printer {self.queue} is stopped: {stopped}")
            if time.monotonic() >= deadline:
                self._cancel(job_id)
                detail = f" ({message})" if message else ""
                raise PrintError(
                    f"CUPS job {self.queue}-{job_id} not printed within {self.timeout:g} s: "
                    f"still {_STATE_NAMES.get(state, str(state))}{detail}"
                )
            time.sleep(self.poll_interval)
