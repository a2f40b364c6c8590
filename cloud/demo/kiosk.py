"""The demo's hospital kiosk: the command that opens it, and the window run beside the demo.

With a display (``DISPLAY`` or ``WAYLAND_DISPLAY``) the demo starts ``caredge kiosk
--windowed`` as a child process and stops it at the end; without one it prints the command.
The kiosk prints to files (``var/demo/prints``), never to a real printer. The device token
goes through the environment, not the command line (which ``ps`` shows to every user).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urlencode

log = logging.getLogger(__name__)

#: Where the lobby kiosk stands on the sample map, and the department its route page shows.
KIOSK_MAP_ID = "kiosk-f1"
ROUTE_TO = "cardiology"
STOP_TIMEOUT_S = 10.0


def route_page_url(api_url: str, destination: str = ROUTE_TO) -> str:
    """The phone page of the route from the lobby kiosk to destination."""
    query = urlencode({"from": KIOSK_MAP_ID, "to": destination, "accessible": "false"})
    return f"{api_url}/api/v1/wayfinding/route.html?{query}"


def kiosk_environment(token: str, print_dir: Path) -> dict[str, str]:
    """CAREDGE_KIOSK_* for the demo kiosk: its token, file printers, the lobby map position."""
    return {
        "CAREDGE_KIOSK_TOKEN": token,
        "CAREDGE_KIOSK_REPORT_PRINTER": "file",
        "CAREDGE_KIOSK_TICKET_PRINTER": "file",
        "CAREDGE_KIOSK_PRINT_DIR": str(print_dir),
        "CAREDGE_KIOSK_WAYFINDING_FROM": KIOSK_MAP_ID,
    }


def kiosk_argv(api_url: str) -> list[str]:
    """``caredge kiosk --windowed --api-url …`` with this interpreter's caredge."""
    script = Path(sys.executable).with_name("caredge")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cloud.cli"]
    return [*command, "kiosk", "--windowed", "--api-url", api_url]


def open_kiosk_hint(api_url: str, token: str, print_dir: Path) -> str:
    """The shell command a person runs to open the kiosk (under Xvfb when there is no screen)."""
    env = " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in kiosk_environment(token, print_dir).items()
    )
    command = f"caredge kiosk --windowed --api-url {api_url}"
    return (
        f"    on a screen:  {env} {command}\n"
        f'    headless:     {env} xvfb-run -s "-screen 0 1280x800x24" {command}'
    )


def has_display(environ: Mapping[str, str] = os.environ) -> bool:
    """True when a window can open (X11 or Wayland)."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


class KioskWindow:
    """``caredge kiosk`` as a child process of the demo; its output goes to log_path."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self._argv = argv
        self._env = {**os.environ, **env}
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as out:
            self._process = subprocess.Popen(
                self._argv, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        log.info("kiosk started (pid %d), log %s", self._process.pid, self.log_path)

    def stop(self) -> int | None:
        """Close the kiosk window; its exit code (None if it never started)."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("the kiosk did not stop in %.0f s: killed", STOP_TIMEOUT_S)
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> KioskWindow:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
