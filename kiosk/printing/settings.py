"""Which printers a kiosk uses, from ``CAREDGE_KIOSK_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kiosk.printing.cups import CupsPrinter
from kiosk.printing.fonts import DEFAULT_CJK_FONTS
from kiosk.printing.printers import EscposNetworkPrinter, FilePrinter, Printer


class PrintSettings(BaseSettings):
    """Report printer (A4: CUPS or file) and ticket printer (ESC/POS or file) of one kiosk."""

    model_config = SettingsConfigDict(env_prefix="CAREDGE_KIOSK_", extra="ignore")

    report_printer: Literal["cups", "file"] = "file"
    ticket_printer: Literal["escpos", "file"] = "file"
    #: CUPS queue for A4 reports and the CUPS server as ``host:port`` (``lp -h``).
    cups_queue: str = ""
    cups_server: str = "localhost:631"
    #: Seconds to wait for CUPS to report the job completed before calling it failed.
    print_timeout_seconds: float = Field(default=60.0, gt=0)
    escpos_host: str = ""
    escpos_port: int = Field(default=9100, ge=1, le=65535)
    #: A python-escpos printer profile name (its capabilities.json), e.g. "TM-T88V".
    escpos_profile: str | None = None
    #: Where the file printer writes documents (development).
    print_dir: Path = Path("var/prints")
    #: CJK font files for report PDFs, best first; a JSON list in the environment.
    report_fonts: list[Path] = Field(default_factory=lambda: list(DEFAULT_CJK_FONTS))

    @model_validator(mode="after")
    def _printers_complete(self) -> PrintSettings:
        if self.report_printer == "cups" and not self.cups_queue:
            raise ValueError("CAREDGE_KIOSK_CUPS_QUEUE must name the queue when reports use cups")
        if self.report_printer == "cups":
            self.report_device()  # refuses a malformed queue name or server address now
        if self.ticket_printer == "escpos" and not self.escpos_host:
            raise ValueError("CAREDGE_KIOSK_ESCPOS_HOST must be set when tickets use escpos")
        return self

    def report_device(self) -> Printer:
        """The configured A4 report printer."""
        if self.report_printer == "cups":
            return CupsPrinter(
                self.cups_queue, server=self.cups_server, timeout=self.print_timeout_seconds
            )
        return FilePrinter(self.print_dir)

    def ticket_device(self) -> Printer:
        """The configured queue-ticket printer."""
        if self.ticket_printer == "escpos":
            return EscposNetworkPrinter(self.escpos_host, self.escpos_port)
        return FilePrinter(self.print_dir)
