"""The few IPP/1.1 messages the kiosk sends to CUPS, encoded and decoded without I/O.

``lp`` submits a job but cannot say how it ended: ``lpstat`` lists completed, aborted and
canceled jobs together. So the kiosk asks CUPS for the job's ``job-state`` with the IPP
operation Get-Job-Attributes (RFC 8011 §4.3.4), the same question pycups would ask through
libcups, without a C extension to build on the kiosk. Encoding per RFC 8010 §3: version,
operation or status code, request id, then attribute groups of (value tag, name, value).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

IPP_VERSION = b"\x02\x00"

# Delimiter tags (RFC 8010 §3.5.1).
OPERATION_ATTRIBUTES = 0x01
JOB_ATTRIBUTES = 0x02
END_OF_ATTRIBUTES = 0x03
PRINTER_ATTRIBUTES = 0x04

# Value tags (RFC 8010 §3.5.2).
_INTEGER = 0x21
_BOOLEAN = 0x22
_ENUM = 0x23
_TEXT = 0x41
_NAME = 0x42
_KEYWORD = 0x44
_URI = 0x45
_CHARSET = 0x47
_NATURAL_LANGUAGE = 0x48
_STRING_TAGS = frozenset({0x41, 0x42, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49})


class Operation(IntEnum):
    """IPP operation ids used here."""

    GET_JOB_ATTRIBUTES = 0x0009
    GET_PRINTER_ATTRIBUTES = 0x000B


class JobState(IntEnum):
    """``job-state`` values (RFC 8011 §5.3.7)."""

    PENDING = 3
    PENDING_HELD = 4
    PROCESSING = 5
    PROCESSING_STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9


class IppError(ValueError):
    """A malformed IPP message."""


Value = int | bool | str | bytes


@dataclass(frozen=True)
class IppResponse:
    """A decoded response: status code and the attributes of all groups, merged by name."""

    status: int
    request_id: int
    attributes: dict[str, list[Value]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """successful-ok and its variants (0x0000–0x00FF)."""
        return self.status < 0x0100

    def first(self, name: str, default: Value | None = None) -> Value | None:
        """The first value of attribute name, or default."""
        values = self.attributes.get(name)
        return values[0] if values else default

    def texts(self, name: str) -> list[str]:
        """All string values of attribute name."""
        return [value for value in self.attributes.get(name, []) if isinstance(value, str)]


def _attribute(tag: int, name: str, values: list[bytes]) -> bytes:
    encoded_name = name.encode("ascii")
    out = b""
    for index, value in enumerate(values):
        name_part = encoded_name if index == 0 else b""
        out += struct.pack(">BH", tag, len(name_part)) + name_part
        out += struct.pack(">H", len(value)) + value
    return out


def _request(
    operation: Operation,
    request_id: int,
    target: tuple[str, str],
    user: str,
    requested: tuple[str, ...],
) -> bytes:
    target_name, target_uri = target
    return (
        IPP_VERSION
        + struct.pack(">HI", operation, request_id)
        + bytes([OPERATION_ATTRIBUTES])
        + _attribute(_CHARSET, "attributes-charset", [b"utf-8"])
        + _attribute(_NATURAL_LANGUAGE, "attributes-natural-language", [b"en"])
        + _attribute(_URI, target_name, [target_uri.encode()])
        + _attribute(_NAME, "requesting-user-name", [user.encode()])
        + _attribute(_KEYWORD, "requested-attributes", [name.encode() for name in requested])
        + bytes([END_OF_ATTRIBUTES])
    )


def get_job_attributes(job_uri: str, *, user: str, request_id: int = 1) -> bytes:
    """A Get-Job-Attributes request for the job's state, reasons and messages."""
    requested = (
        "job-id",
        "job-state",
        "job-state-reasons",
        "job-state-message",
        "job-printer-state-message",
    )
    return _request(Operation.GET_JOB_ATTRIBUTES, request_id, ("job-uri", job_uri), user, requested)


def get_printer_attributes(printer_uri: str, *, user: str, request_id: int = 1) -> bytes:
    """A Get-Printer-Attributes request for the queue's state and why."""
    requested = ("printer-state", "printer-state-reasons", "printer-state-message")
    return _request(
        Operation.GET_PRINTER_ATTRIBUTES,
        request_id,
        ("printer-uri", printer_uri),
        user,
        requested,
    )


def _decode_value(tag: int, raw: bytes) -> Value:
    if tag in (_INTEGER, _ENUM) and len(raw) == 4:
        return int(struct.unpack(">i", raw)[0])
    if tag == _BOOLEAN and len(raw) == 1:
        return raw != b"\x00"
    if tag in _STRING_TAGS:
        return raw.decode("utf-8", errors="replace")
    # dateTime, resolution, ranges, collections, octetString: kept as bytes, not needed here.
    return raw


def decode_response(message: bytes) -> IppResponse:
    """Decode an IPP response; IppError if it is truncated or not IPP."""
    if len(message) < 9:
        raise IppError(f"IPP response too short ({len(message)} bytes)")
    status, request_id = struct.unpack(">HI", message[2:8])
    attributes: dict[str, list[Value]] = {}
    position = 8
    current: str | None = None
    while True:
        if position >= len(message):
            raise IppError("IPP response ends before end-of-attributes")
        tag = message[position]
        position += 1
        if tag == END_OF_ATTRIBUTES:
            break
        if tag < 0x10:  # a new attribute group begins
            current = None
            continue
        if position + 2 > len(message):
            raise IppError("IPP attribute truncated")
        (name_length,) = struct.unpack(">H", message[position : position + 2])
        name = message[position + 2 : position + 2 + name_length].decode("ascii", "replace")
        position += 2 + name_length
        if position + 2 > len(message):
            raise IppError("IPP attribute truncated")
        (value_length,) = struct.unpack(">H", message[position : position + 2])
        raw = message[position + 2 : position + 2 + value_length]
        if len(raw) != value_length:
            raise IppError("IPP attribute value truncated")
        position += 2 + value_length
        if name:
            current = name
            attributes.setdefault(name, [])
        if current is None:
            raise IppError("IPP additional value without an attribute")
        attributes[current].append(_decode_value(tag, raw))
    return IppResponse(status=status, request_id=request_id, attributes=attributes)
