"""Queue tickets over the network to an ESC/POS "printer" (a TCP listener the test owns)."""

from __future__ import annotations

import pytest

from kiosk.printing.printers import EscposNetworkPrinter, print_ticket
from kiosk.printing.ticket import CHINESE_MODE_OFF, CHINESE_MODE_ON
from tests.fixtures.cups import AppSocketPrinter
from tests.fixtures.ports import free_port
from tests.unit.kiosk.printing.samples import queue_ticket

pytestmark = pytest.mark.integration


def test_ticket_reaches_the_receipt_printer_with_gb18030_text_and_qr(
    appsocket_printer: AppSocketPrinter,
) -> None:
    printer = EscposNetworkPrinter("127.0.0.1", appsocket_printer.port, timeout=5)

    result = print_ticket(queue_ticket(), printer, language="zh")

    assert result.printed, result.error
    assert result.job == f"127.0.0.1:{appsocket_printer.port}"
    received = appsocket_printer.wait_for_job()
    assert received.startswith(b"\x1b@")  # ESC @ initialise
    department = "内分泌科".encode("gb18030")
    assert department == b"\xc4\xda\xb7\xd6\xc3\xda\xbf\xc6"
    assert CHINESE_MODE_ON + department + CHINESE_MODE_OFF in received
    assert CHINESE_MODE_ON + "张*丰".encode("gb18030") + CHINESE_MODE_OFF in received
    # GS ! 0x33: characters 4x wide and 4x high; ESC a 1: centred.
    assert b"\x1d!\x33\x1ba\x01A012\n" in received
    # GS ( k, fn 80: store "A012" in the QR symbol (pL=7: 4 data bytes + cn fn m), then print it.
    assert b"\x1d(k\x07\x001P0A012" in received and b"\x1d(k\x03\x001Q0" in received
    assert received.endswith(b"\x1dV\x00")  # full cut


def test_unreachable_receipt_printer_is_a_failure_with_the_reason() -> None:
    port = free_port()
    printer = EscposNetworkPrinter("127.0.0.1", port, timeout=5)

    result = print_ticket(queue_ticket(), printer, language="zh")

    assert not result.printed
    assert result.error == f"receipt printer 127.0.0.1:{port} unreachable: Connection refused"
