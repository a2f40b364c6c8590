"""Queue tickets as ESC/POS bytes for an 80 mm receipt printer (python-escpos, no I/O here).

Chinese text: python-escpos's code-page tables have no Chinese page; its own shortcut sends
text containing U+4E00–U+9FA5 as GB18030 and relies on the printer already being in Chinese
mode. We do that explicitly for every line with non-ASCII text: ``FS &`` (select Kanji/Chinese
character mode), the line encoded in GB18030 (a superset of GB2312/GBK that encodes every
Unicode character, so nothing turns into "?"), then ``FS .`` (cancel it) so ASCII and the
barcode commands that follow are unaffected. This is how printers with a Simplified Chinese
font (the receipt printers sold in China: Xprinter, Sunmi, Epson TM-T88 "China" models) take
Chinese; a printer without such a font cannot print hanzi as text at all.

The ticket number is also printed as a QR code by the printer itself (``GS ( k``), so a
counter scanner reads it without the image rendering python-escpos does otherwise.
"""

from __future__ import annotations

from escpos.printer import Dummy  # type: ignore[import-untyped]

from kiosk.printing.documents import Language, QueueTicket
from kiosk.printing.labels import label

#: ESC/POS FS & and FS . : enter and leave Kanji (Chinese double-byte) character mode.
CHINESE_MODE_ON = b"\x1c\x26"
CHINESE_MODE_OFF = b"\x1c\x2e"
TEXT_ENCODING = "gb18030"


def encode_line(text: str) -> bytes:
    """One line of text as ESC/POS bytes, in Chinese mode when it is not plain ASCII."""
    if text.isascii():
        return text.encode("ascii") + b"\n"
    return CHINESE_MODE_ON + text.encode(TEXT_ENCODING) + CHINESE_MODE_OFF + b"\n"


def render_ticket(ticket: QueueTicket, *, language: Language, profile: str | None = None) -> bytes:
    """The ticket's ESC/POS byte stream: header, big number, QR of the number, cut."""
    printer = Dummy(profile=profile)
    printer.hw("INIT")
    printer.set(align="center", normal_textsize=True)
    printer._raw(encode_line(ticket.hospital.in_(language)))
    printer.set(align="center", double_height=True, double_width=True)
    printer._raw(encode_line(ticket.department.in_(language)))
    printer.set(align="center", normal_textsize=True)
    printer._raw(encode_line(label("queue_number", language)))
    printer.set(align="center", custom_size=True, width=4, height=4)
    printer._raw(encode_line(ticket.number))
    printer.set(align="center", normal_textsize=True)
    printer._raw(encode_line(ticket.patient_masked_name))
    if ticket.waiting_ahead is not None:
        printer._raw(encode_line(label("waiting_ahead", language, count=ticket.waiting_ahead)))
    issued = ticket.issued_at.strftime("%Y-%m-%d %H:%M")
    printer._raw(encode_line(f"{label('issued_at', language)}: {issued}"))
    printer.qr(ticket.number, size=6, native=True)
    printer._raw(b"\n")
    printer._raw(encode_line(label("keep_ticket", language)))
    printer.cut()
    return printer.output
