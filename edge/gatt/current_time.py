"""Date Time (0x2A08) and Current Time (0x2A2B, Current Time Service 1.1 §3.1).

Date Time, 7 bytes, used as the time stamp of 0x2A35 and the base time of 0x2A18
(GATT Specification Supplement, Date Time)::

    year u16 LE   1582..9999, 0 = not known
    month u8      1..12, 0 = not known
    day u8        1..31, 0 = not known
    hours u8      0..23
    minutes u8    0..59
    seconds u8    0..59

A date with year, month or day 0 decodes to None (the meter does not know its clock); any other
out-of-range field, or a date that does not exist (2023-02-29), raises GattFormatError. The time
is the meter's local wall-clock time, so the datetimes are naive; the session corrects skew and
attaches the patient's zone.

Current Time, 10 bytes: Date Time, Day of Week u8 (1 Monday .. 7 Sunday, 0 not known),
Fractions256 u8 (1/256 s), Adjust Reason u8 (bit0 manual update, bit1 external reference,
bit2 time zone change, bit3 DST change, bits 4-7 reserved).
"""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag

from edge.gatt.sfloat import FrameReader

DATE_TIME_SIZE = 7
CURRENT_TIME_SIZE = 10
_YEAR_MIN = 1582
_YEAR_MAX = 9999


class AdjustReason(IntFlag):
    """Why the clock was last adjusted (Current Time, Adjust Reason field)."""

    MANUAL_TIME_UPDATE = 0x01
    EXTERNAL_REFERENCE_TIME_UPDATE = 0x02
    CHANGE_OF_TIME_ZONE = 0x04
    CHANGE_OF_DST = 0x08


def read_date_time(reader: FrameReader, field: str) -> datetime | None:
    """Consume a 7-byte Date Time; None when year, month or day is 0 (not known)."""
    year = reader.u16(f"{field}.year")
    month = reader.u8(f"{field}.month")
    day = reader.u8(f"{field}.day")
    hours = reader.u8(f"{field}.hours")
    minutes = reader.u8(f"{field}.minutes")
    seconds = reader.u8(f"{field}.seconds")
    if year != 0 and not _YEAR_MIN <= year <= _YEAR_MAX:
        raise reader.error(f"{field}: year {year} outside {_YEAR_MIN}..{_YEAR_MAX}")
    if month > 12:
        raise reader.error(f"{field}: month {month} outside 1..12")
    if day > 31:
        raise reader.error(f"{field}: day {day} outside 1..31")
    if hours > 23 or minutes > 59 or seconds > 59:
        raise reader.error(f"{field}: time {hours:02}:{minutes:02}:{seconds:02} is not valid")
    if year == 0 or month == 0 or day == 0:
        return None
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError as exc:
        raise reader.error(f"{field}: {year:04}-{month:02}-{day:02} does not exist") from exc


def parse_date_time(data: bytes | bytearray) -> datetime | None:
    """Parse a Date Time value (0x2A08); None when the date is not known."""
    reader = FrameReader(data, "Date Time")
    moment = read_date_time(reader, "date_time")
    reader.finish()
    return moment


def parse_current_time(data: bytes | bytearray) -> datetime | None:
    """Parse Current Time (0x2A2B) to a naive local datetime; None when the date is not known.

    Fractions256 becomes microseconds. Day of Week is checked for range (0..7) but the date is
    authoritative; Adjust Reason is informational and not returned.
    """
    reader = FrameReader(data, "Current Time")
    moment = read_date_time(reader, "date_time")
    day_of_week = reader.u8("day_of_week")
    fractions256 = reader.u8("fractions256")
    reader.u8("adjust_reason")
    reader.finish()
    if day_of_week > 7:
        raise reader.error(f"day_of_week {day_of_week} outside 0..7")
    if moment is None:
        return None
    return moment.replace(microsecond=fractions256 * 1_000_000 // 256)


def build_current_time(
    moment: datetime,
    *,
    adjust_reason: AdjustReason = AdjustReason.EXTERNAL_REFERENCE_TIME_UPDATE,
) -> bytes:
    """Encode ``moment``'s wall-clock fields as a Current Time value (0x2A2B) for a write.

    Pass the meter's local time; a timezone on ``moment`` is not converted. The default
    adjust reason says the gateway set the clock from a reference (its NTP-synchronised clock).
    """
    if not _YEAR_MIN <= moment.year <= _YEAR_MAX:
        raise ValueError(f"Date Time years are {_YEAR_MIN}..{_YEAR_MAX}, got {moment.year}")
    if not 0 <= adjust_reason <= 0xFF:
        raise ValueError(f"adjust reason is one byte, got {adjust_reason:#x}")
    fractions256 = moment.microsecond * 256 // 1_000_000
    return bytes(
        [
            moment.year & 0xFF,
            moment.year >> 8,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.isoweekday(),
            fractions256,
            int(adjust_reason),
        ]
    )
