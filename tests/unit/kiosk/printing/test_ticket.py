"""Queue tickets as ESC/POS bytes: Chinese in GB18030 inside FS & … FS ., QR of the number."""

from __future__ import annotations

from kiosk.printing.ticket import CHINESE_MODE_OFF, CHINESE_MODE_ON, encode_line, render_ticket
from tests.unit.kiosk.printing.samples import queue_ticket


def test_ascii_line_is_sent_as_is() -> None:
    assert encode_line("A012") == b"A012\n"


def test_chinese_line_is_gb18030_in_chinese_mode() -> None:
    # 内 = C4DA, 科 = BFC6 in GB2312/GB18030; ＋ (fullwidth plus) is A3AB.
    assert encode_line("内科＋") == b"\x1c\x26\xc4\xda\xbf\xc6\xa3\xab\x1c\x2e\n"


def test_rare_character_outside_gbk_still_encodes() -> None:
    line = encode_line("𠀀")  # CJK Extension B: four bytes in GB18030, "?" in GBK code pages
    assert line == CHINESE_MODE_ON + "𠀀".encode("gb18030") + CHINESE_MODE_OFF + b"\n"
    assert len("𠀀".encode("gb18030")) == 4


def test_chinese_ticket_has_department_number_masked_name_and_qr() -> None:
    data = render_ticket(queue_ticket(), language="zh")

    assert encode_line("内分泌科") in data
    assert encode_line("张*丰") in data
    assert encode_line("前面还有 3 人") in data
    assert encode_line("取号时间: 2026-11-27 09:05") in data
    assert b"\x1d(k\x07\x001P0A012" in data  # QR store data "A012"
    assert data.endswith(b"\x1dV\x00")


def test_english_ticket_keeps_the_masked_chinese_name() -> None:
    data = render_ticket(queue_ticket(), language="en")

    assert b"Endocrinology\n" in data
    assert b"3 waiting ahead of you\n" in data
    assert encode_line("张*丰") in data
    assert "内分泌科".encode("gb18030") not in data
