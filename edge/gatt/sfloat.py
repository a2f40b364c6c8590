"""IEEE 11073-20601 SFLOAT, and the bounded little-endian reader every GATT parser uses.

SFLOAT-Type (IEEE 11073-20601; "medfloat16" in the GATT Specification Supplement; the
Bluetooth Personal Health Devices Transcoding white paper shows the same layout)::

    bit 15..12  exponent  4-bit two's complement, -8..7
    bit 11..0   mantissa 12-bit two's complement, -2048..2047
    value = mantissa · 10^exponent

Both parts are signed: 0xF04B is exponent 0xF = -1 and mantissa 0x04B = 75, i.e. 7.5 (not
75·10¹⁵, the classic bug of decoders that forget to sign-extend the exponent).

Five 16-bit values with exponent 0 are special::

    0x07FF NaN (not a number)          0x0800 NRes (not at this resolution)
    0x07FE +INFINITY                   0x0802 -INFINITY
    0x0801 reserved for future use

Only these exact 16-bit values are special; with another exponent the same mantissa is an
ordinary number (0x17FF is 2047·10 = 20470), as in the standard and Wireshark's dissector.

API decision: a decoded value is never a bare float that could hide a special. Parsers store an
:class:`SFloat`, which keeps the raw word and answers ``special`` (which special value, or None),
``finite`` (the number, or None for any special) and ``value`` (the number, NaN for NaN / NRes /
reserved, ±inf for ±INFINITY). The free functions :func:`decode_sfloat` and
:func:`sfloat_special` give the same two answers for a raw ``int``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from edge.errors import GattFormatError


class SFloatSpecial(IntEnum):
    """The IEEE 11073-20601 SFLOAT special values (the raw 16-bit words)."""

    NAN = 0x07FF
    NRES = 0x0800
    POSITIVE_INFINITY = 0x07FE
    NEGATIVE_INFINITY = 0x0802
    RESERVED = 0x0801


_SPECIAL_FLOATS: dict[SFloatSpecial, float] = {
    SFloatSpecial.NAN: math.nan,
    SFloatSpecial.NRES: math.nan,
    SFloatSpecial.RESERVED: math.nan,
    SFloatSpecial.POSITIVE_INFINITY: math.inf,
    SFloatSpecial.NEGATIVE_INFINITY: -math.inf,
}
_SPECIAL_BY_RAW = {member.value: member for member in SFloatSpecial}


def _check_raw(raw: int) -> None:
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"an SFLOAT is a 16-bit word, got {raw:#x}")


def sfloat_special(raw: int) -> SFloatSpecial | None:
    """Which special value the 16-bit SFLOAT word ``raw`` is, or None for an ordinary number."""
    _check_raw(raw)
    return _SPECIAL_BY_RAW.get(raw)


def sfloat_parts(raw: int) -> tuple[int, int]:
    """The sign-extended (mantissa, exponent) of a 16-bit SFLOAT word."""
    _check_raw(raw)
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    mantissa = raw & 0x0FFF
    if mantissa >= 0x800:
        mantissa -= 0x1000
    return mantissa, exponent


def decode_sfloat(raw: int) -> float:
    """Decode a 16-bit SFLOAT word: NaN for NaN/NRes/reserved, ±inf for ±INFINITY.

    Use :func:`sfloat_special` (or :class:`SFloat`) to tell NRes from NaN.
    """
    special = sfloat_special(raw)
    if special is not None:
        return _SPECIAL_FLOATS[special]
    mantissa, exponent = sfloat_parts(raw)
    # Divide for negative exponents: 75 / 10 is exactly the double nearest 7.5, 75 * 0.1 is not.
    if exponent < 0:
        divisor: int = 10 ** (-exponent)
        return mantissa / divisor
    scale: int = 10**exponent
    return float(mantissa * scale)


@dataclass(frozen=True, slots=True, repr=False)
class SFloat:
    """One SFLOAT field as received: the raw word plus its decoded meaning."""

    raw: int

    def __post_init__(self) -> None:
        _check_raw(self.raw)

    @property
    def special(self) -> SFloatSpecial | None:
        """The special value this field carries, or None when it is a number."""
        return sfloat_special(self.raw)

    @property
    def is_special(self) -> bool:
        """True for NaN, NRes, ±INFINITY and the reserved value."""
        return self.special is not None

    @property
    def value(self) -> float:
        """The decoded value; NaN or ±inf for specials (see :func:`decode_sfloat`)."""
        return decode_sfloat(self.raw)

    @property
    def finite(self) -> float | None:
        """The decoded number, or None when the field holds a special value."""
        return None if self.is_special else self.value

    @property
    def mantissa(self) -> int:
        """The signed 12-bit mantissa."""
        return sfloat_parts(self.raw)[0]

    @property
    def exponent(self) -> int:
        """The signed 4-bit base-10 exponent (the resolution the device reports)."""
        return sfloat_parts(self.raw)[1]

    def __str__(self) -> str:
        special = self.special
        return special.name if special is not None else repr(self.value)

    def __repr__(self) -> str:
        return f"SFloat(0x{self.raw:04X}={self})"


class FrameReader:
    """Reads little-endian fields from one characteristic value, raising GattFormatError.

    Every read names its field, so a truncated frame says which field it ran out in. ``finish``
    enforces the trailing-bytes policy shared by all parsers (see ``edge.gatt``).
    """

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self._data = bytes(data)
        self._offset = 0
        self._what = what

    @property
    def frame(self) -> bytes:
        """The whole value being read."""
        return self._data

    @property
    def offset(self) -> int:
        """How many bytes have been consumed."""
        return self._offset

    def error(self, reason: str) -> GattFormatError:
        """A GattFormatError for this frame, prefixed with the characteristic's name."""
        return GattFormatError(self._data, f"{self._what}: {reason}")

    def take(self, size: int, field: str) -> bytes:
        """Consume ``size`` bytes for ``field``."""
        end = self._offset + size
        if end > len(self._data):
            raise self.error(
                f"truncated in {field}: needs {size} byte(s) at offset {self._offset}, "
                f"frame has {len(self._data)}"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u8(self, field: str) -> int:
        """Consume an unsigned 8-bit integer."""
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        """Consume an unsigned little-endian 16-bit integer."""
        value: int = struct.unpack("<H", self.take(2, field))[0]
        return value

    def s16(self, field: str) -> int:
        """Consume a signed (two's complement) little-endian 16-bit integer."""
        value: int = struct.unpack("<h", self.take(2, field))[0]
        return value

    def sfloat(self, field: str) -> SFloat:
        """Consume an IEEE 11073-20601 SFLOAT."""
        return SFloat(self.u16(field))

    def finish(self) -> None:
        """Reject bytes left after the last field the flags announce."""
        extra = len(self._data) - self._offset
        if extra:
            raise self.error(
                f"{extra} unexpected trailing byte(s) after offset {self._offset} "
                "(no field announced by the flags accounts for them)"
            )
