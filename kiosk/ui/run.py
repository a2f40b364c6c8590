"""Start the kiosk: Kivy window settings first (they must precede any window import)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from kiosk.config import KioskConfig

#: Window size when not fullscreen (a common 15.6" landscape kiosk panel at 1:1 scale).
WINDOW_SIZE = (1280, 800)


def configure_kivy(*, fullscreen: bool) -> None:
    """Window, input and logging settings; call before importing kivy.core.window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")  # a kiosk has nothing to paste
    from kivy.config import Config

    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "width", str(WINDOW_SIZE[0]))
    Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    Config.set("graphics", "resizable", "0")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")
    # A touch screen: no red multitouch-emulation dots on right click.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    # Kivy's logger takes over the root logger; HTTP internals stay quiet.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_app(config: KioskConfig):  # type: ignore[no-untyped-def]
    """The KioskApp for config, with its printers, API client and speaker (window not opened)."""
    configure_kivy(fullscreen=config.fullscreen)
    from kiosk.api_client import KioskApi
    from kiosk.printing.documents import Bilingual
    from kiosk.printing.settings import PrintSettings
    from kiosk.session import KioskController
    from kiosk.speech import Speaker
    from kiosk.ui.app import KioskApp
    from kiosk.ui.fonts import register_cjk_font

    printing = PrintSettings()
    register_cjk_font(printing.report_fonts)
    api = KioskApi(
        config.api_url, config.token.get_secret_value(), timeout=config.http_timeout_seconds
    )
    controller = KioskController(
        api,
        report_printer=printing.report_device(),
        ticket_printer=printing.ticket_device(),
        hospital=Bilingual(config.hospital_name_zh, config.hospital_name_en),
        zone=ZoneInfo(config.timezone),
        language=config.language,
        elder=config.elder,
        wayfinding_from=config.wayfinding_from,
        public_url=config.route_page_base,
        report_fonts=printing.report_fonts,
    )
    app = KioskApp(controller, config, Speaker(enabled=config.speech))
    app.hospital_name = f"{config.hospital_name_zh}  {config.hospital_name_en}"
    return app


def process_age() -> float:
    """Seconds since this process started (Linux /proc; time since import elsewhere)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


_IMPORTED = time.monotonic()


def run(config: KioskConfig) -> None:
    """Open the kiosk window and serve patients until the window closes."""
    app = build_app(config)
    from kivy.core.window import Window

    def first_frame(*_args: object) -> None:
        Window.unbind(on_flip=first_frame)
        logging.getLogger(__name__).info("first frame %.2f s after process start", process_age())

    Window.bind(on_flip=first_frame)
    try:
        app.run()
    finally:
        app.controller.api.close()
