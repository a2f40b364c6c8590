"""IPP encoding against hand-assembled messages (RFC 8010 §3), not against our own decoder."""

from __future__ import annotations

import struct

import pytest

from kiosk.printing import ipp


def _attr(tag: int, name: str, value: bytes) -> bytes:
    return (
        struct.pack(">BH", tag, len(name)) + name.encode() + struct.pack(">H", len(value)) + value
    )


def test_get_job_attributes_request_bytes() -> None:
    request = ipp.get_job_attributes("ipp://h:631/jobs/7", user="kiosk", request_id=42)

    expected = (
        b"\x02\x00" + b"\x00\x09" + b"\x00\x00\x00\x2a" + b"\x01"
        + _attr(0x47, "attributes-charset", b"utf-8")
        + _attr(0x48, "attributes-natural-language", b"en")
        + _attr(0x45, "job-uri", b"ipp://h:631/jobs/7")
        + _attr(0x42, "requesting-user-name", b"kiosk")
        + _attr(0x44, "requested-attributes", b"job-id")
        + _attr(0x44, "", b"job-state")
        + _attr(0x44, "", b"job-state-reasons")
        + _attr(0x44, "", b"job-state-message")
        + _attr(0x44, "", b"job-printer-state-message")
        + b"\x03"
    )  # fmt: skip
    assert request == expected


def test_response_with_enum_multi_valued_keywords_and_text() -> None:
    response = (
        b"\x02\x00" + b"\x00\x00" + b"\x00\x00\x00\x05" + b"\x01"
        + _attr(0x47, "attributes-charset", b"utf-8")
        + b"\x02"
        + _attr(0x21, "job-id", b"\x00\x00\x00\x07")
        + _attr(0x23, "job-state", b"\x00\x00\x00\x08")
        + _attr(0x44, "job-state-reasons", b"job-aborted-by-system")
        + _attr(0x44, "", b"printer-stopped")
        + _attr(0x41, "job-printer-state-message", "打印机无响应".encode())
        + _attr(0x31, "time-at-completed", b"\x07\xea\x0b\x1b\x0a\x00\x00\x00+\x00\x00")
        + b"\x03"
    )  # fmt: skip

    decoded = ipp.decode_response(response)

    assert decoded.ok and decoded.request_id == 5
    assert decoded.first("job-state") == ipp.JobState.ABORTED
    assert decoded.texts("job-state-reasons") == ["job-aborted-by-system", "printer-stopped"]
    assert decoded.first("job-printer-state-message") == "打印机无响应"
    assert isinstance(decoded.first("time-at-completed"), bytes)


def test_error_status_is_not_ok() -> None:
    response = b"\x02\x00\x04\x06\x00\x00\x00\x01\x01" + _attr(0x41, "status-message", b"nf")
    decoded = ipp.decode_response(response + b"\x03")

    assert not decoded.ok and decoded.status == 0x0406
    assert decoded.first("status-message") == "nf"


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"<html>not ipp</html>",
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01",  # no end-of-attributes
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01\x23\x00\x09job-state\x00\x04\x00",  # short value
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01\x44\x00\x00\x00\x01x\x03",  # orphan extra value
    ],
)
def test_malformed_responses_raise_ipp_error(message: bytes) -> None:
    with pytest.raises(ipp.IppError):
        ipp.decode_response(message)
