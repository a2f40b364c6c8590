"""Printers the kiosk prints on, and the two verbs: print a report, print a ticket.

Every adapter's ``submit`` returns only when the printer took the job and raises
``PrintError`` with the reason otherwise, so a report is never marked printed when its job
failed. ``print_report`` and ``print_ticket`` turn that into a ``PrintResult`` whose
``outcome``/``error`` match what the cloud API records for a print job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from escpos.exceptions import DeviceNotFoundError  # type: ignore[import-untyped]
from escpos.printer import Network  # type: ignore[import-untyped]

from kiosk.printing.documents import ImagingReport, LabReport, Language, QueueTicket
from kiosk.printing.errors import PrintError
from kiosk.printing.fonts import DEFAULT_CJK_FONTS, find_fonts
from kiosk.printing.report_pdf import render_imaging_report, render_lab_report
from kiosk.printing.ticket import render_ticket

log = logging.getLogger(__name__)

PDF = "application/pdf"
ESCPOS = "application/vnd.escpos"
_SUFFIXES = {PDF: ".pdf", ESCPOS: ".escpos"}


@dataclass(frozen=True)
class Document:
    """Bytes ready for a printer, with a title for the queue and their media type."""

    data: bytes
    title: str
    media_type: str


class Printer(Protocol):
    """Something that prints documents and confirms each job."""

    def submit(self, document: Document) -> str:
        """Print document; return a job reference once printed; PrintError otherwise."""
        ...


@dataclass(frozen=True)
class PrintResult:
    """Printed (with the printer's job reference) or failed with a reason."""

    printed: bool
    job: str | None = None
    error: str | None = None

    @property
    def outcome(self) -> Literal["printed", "failed"]:
        """The print job status as the cloud API records it."""
        return "printed" if self.printed else "failed"


class FilePrinter:
    """Development printer: writes each document into a directory and calls it printed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def submit(self, document: Document) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = re.sub(r"[^\w.-]+", "_", document.title, flags=re.ASCII).strip("_") or "document"
        target = self.directory / f"{stamp}-{name}{_SUFFIXES.get(document.media_type, '.bin')}"
        partial = target.with_suffix(target.suffix + ".partial")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(document.data)
            os.replace(partial, target)
        except OSError as error:
            raise PrintError(f"cannot write {target}: {error.strerror or error}") from error
        log.info("wrote %s (%d bytes)", target, len(document.data))
        return str(target)


class EscposNetworkPrinter:
    """An ESC/POS receipt printer on a raw TCP port (AppSocket/JetDirect, usually 9100).

    ESC/POS over TCP has no job acknowledgement: "printed" means the printer's TCP connection
    took every byte. Paper-out is not detected (it would need the
    printer's real-time status replies, DLE EOT, which not every model sends over TCP).
    """

    def __init__(self, host: str, port: int = 9100, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def submit(self, document: Document) -> str:
        address = f"{self.host}:{self.port}"
        printer = Network(self.host, self.port, timeout=self.timeout)
        try:
            printer.open(raise_not_found=True)
            printer._raw(document.data)
        except DeviceNotFoundError as error:
            # python-escpos raises it inside its "except OSError", which holds the reason.
            reason = _os_reason(error.__context__) or " ".join(error.msg.split())
            raise PrintError(f"receipt printer {address} unreachable: {reason}") from error
        except OSError as error:
            raise PrintError(f"receipt printer {address} failed: {_os_reason(error)}") from error
        finally:
            printer.close()
        log.info("sent %d bytes to receipt printer %s", len(document.data), address)
        return address


def _os_reason(error: BaseException | None) -> str:
    if not isinstance(error, OSError):
        return ""
    return error.strerror or str(error) or type(error).__name__


def _print(printer: Printer, document: Document) -> PrintResult:
    try:
        job = printer.submit(document)
    except PrintError as error:
        log.warning("not printed: %s: %s", document.title, error.reason)
        return PrintResult(printed=False, error=error.reason)
    return PrintResult(printed=True, job=job)


def print_report(
    report: LabReport | ImagingReport,
    printer: Printer,
    *,
    language: Language,
    fonts: Sequence[Path] = DEFAULT_CJK_FONTS,
) -> PrintResult:
    """Render report as an A4 PDF and print it; printed only when the printer confirmed."""
    try:
        found = find_fonts(fonts)
    except PrintError as error:
        return PrintResult(printed=False, error=error.reason)
    if isinstance(report, LabReport):
        data = render_lab_report(report, language=language, fonts=found)
    else:
        data = render_imaging_report(report, language=language, fonts=found)
    return _print(printer, Document(data, f"report {report.report_number}", PDF))


def print_ticket(
    ticket: QueueTicket, printer: Printer, *, language: Language, profile: str | None = None
) -> PrintResult:
    """Render the queue ticket as ESC/POS and print it."""
    data = render_ticket(ticket, language=language, profile=profile)
    return _print(printer, Document(data, f"ticket {ticket.number}", ESCPOS))
