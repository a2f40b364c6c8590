"""Print results, the file printer and the configuration that picks printers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kiosk.printing.cups import CupsPrinter
from kiosk.printing.errors import PrintError
from kiosk.printing.printers import (
    PDF,
    Document,
    EscposNetworkPrinter,
    FilePrinter,
    print_report,
    print_ticket,
)
from kiosk.printing.settings import PrintSettings
from tests.unit.kiosk.printing.samples import lab_report, queue_ticket


class RefusingPrinter:
    """A printer whose every job fails, as a jammed one would."""

    def __init__(self) -> None:
        self.documents: list[Document] = []

    def submit(self, document: Document) -> str:
        self.documents.append(document)
        raise PrintError("paper jam")


def test_failed_job_is_a_failed_result_with_the_reason() -> None:
    printer = RefusingPrinter()

    result = print_report(lab_report(), printer, language="zh")

    assert (result.printed, result.outcome, result.error) == (False, "failed", "paper jam")
    assert printer.documents[0].media_type == PDF
    assert printer.documents[0].data.startswith(b"%PDF-")


def test_missing_fonts_fail_the_print_without_submitting(tmp_path: Path) -> None:
    printer = RefusingPrinter()

    result = print_report(lab_report(), printer, language="zh", fonts=[tmp_path / "x.ttc"])

    assert not result.printed and result.error is not None and "x.ttc" in result.error
    assert printer.documents == []


def test_file_printer_writes_the_document(tmp_path: Path) -> None:
    printer = FilePrinter(tmp_path / "prints")

    report = print_report(lab_report(), printer, language="zh")
    ticket = print_ticket(queue_ticket(), printer, language="zh")

    assert report.printed and ticket.printed
    assert report.job is not None and report.job.endswith("-report_L20261127-0001.pdf")
    assert Path(report.job).read_bytes().startswith(b"%PDF-")
    assert ticket.job is not None and ticket.job.endswith("-ticket_A012.escpos")
    assert sorted(p.suffix for p in (tmp_path / "prints").iterdir()) == [".escpos", ".pdf"]


def test_file_printer_where_a_file_blocks_the_directory_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "prints"
    blocker.write_text("not a directory")

    result = print_ticket(queue_ticket(), FilePrinter(blocker), language="zh")

    assert not result.printed and result.error is not None
    assert result.error.startswith(f"cannot write {blocker}/")


def test_default_settings_print_to_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREDGE_KIOSK_PRINT_DIR", "/tmp/kiosk-prints")
    settings = PrintSettings()

    assert isinstance(settings.report_device(), FilePrinter)
    assert isinstance(settings.ticket_device(), FilePrinter)


def test_cups_and_escpos_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "REPORT_PRINTER": "cups",
        "CUPS_QUEUE": "lobby-a4",
        "CUPS_SERVER": "print.hospital.lan:631",
        "PRINT_TIMEOUT_SECONDS": "45",
        "TICKET_PRINTER": "escpos",
        "ESCPOS_HOST": "10.1.2.3",
        "ESCPOS_PORT": "9101",
        "REPORT_FONTS": '["/fonts/a.ttc", "/fonts/b.ttf"]',
    }.items():
        monkeypatch.setenv(f"CAREDGE_KIOSK_{name}", value)
    settings = PrintSettings()

    report = settings.report_device()
    ticket = settings.ticket_device()
    assert isinstance(report, CupsPrinter)
    assert (report.queue, report.server, report.timeout) == (
        "lobby-a4",
        "print.hospital.lan:631",
        45,
    )
    assert isinstance(ticket, EscposNetworkPrinter)
    assert (ticket.host, ticket.port) == ("10.1.2.3", 9101)
    assert settings.report_fonts == [Path("/fonts/a.ttc"), Path("/fonts/b.ttf")]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REPORT_PRINTER": "cups"}, "CAREDGE_KIOSK_CUPS_QUEUE"),
        ({"REPORT_PRINTER": "cups", "CUPS_QUEUE": "a b"}, "invalid CUPS queue name"),
        ({"REPORT_PRINTER": "cups", "CUPS_QUEUE": "q", "CUPS_SERVER": "ipp://x"}, "host:port"),
        ({"TICKET_PRINTER": "escpos"}, "CAREDGE_KIOSK_ESCPOS_HOST"),
        ({"REPORT_PRINTER": "lpr"}, "report_printer"),
    ],
)
def test_incomplete_configuration_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"CAREDGE_KIOSK_{name}", value)

    with pytest.raises(ValidationError, match=message):
        PrintSettings()
