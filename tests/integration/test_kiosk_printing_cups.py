"""Report PDFs through a real cupsd to an AppSocket printer the test owns, and CUPS failures."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfReader

from kiosk.printing.cups import CupsPrinter
from kiosk.printing.printers import print_report
from tests.fixtures.cups import AppSocketPrinter, CupsServer
from tests.fixtures.ports import free_port
from tests.unit.kiosk.printing.samples import imaging_report, lab_report

pytestmark = pytest.mark.integration

QUEUE = "kiosk-a4"


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_lab_report_is_printed_only_after_the_printer_received_it(
    cups_server: CupsServer, appsocket_printer: AppSocketPrinter
) -> None:
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{appsocket_printer.port}")
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=30)

    result = print_report(lab_report(), printer, language="zh")

    assert result.printed, result.error
    assert result.outcome == "printed"
    assert result.job is not None and result.job.startswith(f"{QUEUE}-")
    # Completed means delivered: the printer holds the job the moment print_report returns.
    assert len(appsocket_printer.jobs) == 1
    received = appsocket_printer.jobs[0]
    assert received.startswith(b"%PDF-") and received.rstrip().endswith(b"%%EOF")
    text = _pdf_text(received)
    for expected in ("张三丰", "检验报告单", "白细胞计数", "11.2", "10^9/L", "3.5–9.5", "阳性(+)"):
        assert expected in text


def test_imaging_report_in_english_reaches_the_printer(
    cups_server: CupsServer, appsocket_printer: AppSocketPrinter
) -> None:
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{appsocket_printer.port}")
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=30)

    result = print_report(imaging_report(), printer, language="en")

    assert result.printed, result.error
    text = _pdf_text(appsocket_printer.jobs[0])
    assert "Imaging Report" in text and "Findings" in text and "未见明显实变影" in text


def result_job(cups_server: CupsServer) -> str:
    """The id of the queue's only job, as CUPS lists it."""
    (line,) = cups_server.run("lpstat", "-W", "completed", "-o", QUEUE).splitlines()
    return line.split()[0]


def test_printer_that_never_answers_aborts_the_job_and_it_is_not_printed(
    cups_server: CupsServer,
) -> None:
    # Nothing listens there; contimeout makes the socket backend give up, and the queue's
    # abort-job policy turns that into job-state aborted.
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{free_port()}/?contimeout=1")
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=60)

    result = print_report(lab_report(), printer, language="zh")

    assert not result.printed
    assert result.outcome == "failed"
    assert result.error == (
        f"CUPS job {result_job(cups_server)} aborted: The printer is not responding."
    )


def test_job_not_completed_in_time_is_cancelled_and_failed(
    cups_server: CupsServer,
) -> None:
    port = free_port()
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{port}")  # retries for days
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=2)

    started = time.monotonic()
    result = print_report(lab_report(), printer, language="zh")

    assert time.monotonic() - started < 15
    assert not result.printed
    assert result.error is not None
    assert result.error.startswith(f"CUPS job {QUEUE}-1 not printed within 2 s: still processing")
    # Cancelled: the printer coming back later must not print a report the patient was
    # told had failed.
    assert cups_server.run("lpstat", "-o", QUEUE).strip() == ""
    late = AppSocketPrinter(port=port)
    late.start()
    try:
        time.sleep(6)  # longer than the backend's first retry delay (5 s)
        assert late.jobs == []
    finally:
        late.stop()


def test_disabled_queue_fails_at_once_with_the_reason_and_cancels_the_job(
    cups_server: CupsServer, appsocket_printer: AppSocketPrinter
) -> None:
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{appsocket_printer.port}")
    cups_server.run("cupsdisable", "-r", "out of paper", QUEUE)
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=30)

    started = time.monotonic()
    result = print_report(lab_report(), printer, language="zh")

    assert time.monotonic() - started < 10
    assert not result.printed
    assert result.error == f"printer {QUEUE} is stopped: out of paper"
    cups_server.run("cupsenable", QUEUE)
    time.sleep(2)
    assert appsocket_printer.jobs == []


def test_unknown_queue_is_refused_by_lp(cups_server: CupsServer) -> None:
    printer = CupsPrinter("no-such-queue", server=cups_server.server, timeout=5)

    result = print_report(lab_report(), printer, language="zh")

    assert not result.printed
    assert result.error == "CUPS did not take the job: The printer or class does not exist."


def test_queue_rejecting_jobs_is_a_failure_with_the_reason(
    cups_server: CupsServer, appsocket_printer: AppSocketPrinter
) -> None:
    cups_server.add_raw_queue(QUEUE, f"socket://127.0.0.1:{appsocket_printer.port}")
    cups_server.run("cupsreject", "-r", "maintenance", QUEUE)
    printer = CupsPrinter(QUEUE, server=cups_server.server, timeout=5)

    result = print_report(lab_report(), printer, language="zh")

    assert not result.printed
    assert result.error is not None and result.error.startswith("CUPS did not take the job:")
    assert "not accepting jobs" in result.error
