"""Pure InfluxDB line-protocol encoding of reading points (no I/O).

One reading becomes one line::

    reading,device_id=D,gateway_id=G,kind=K,patient_id=P field=value,...,seq=3i <epoch ms>

Tags are written in key order (what InfluxDB recommends); ``patient_id`` is left out for an
unbound reading. Tag values escape backslash, comma, equals sign and space; line breaks
cannot be represented in line protocol and are refused. Field values use Python's shortest
round-trip ``repr`` of the float. The timestamp is ``measured_at`` truncated to the
millisecond, so the write must use ms precision.
Reference: https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cloud.tsdb.base import ReadingPoint

#: The measurement every reading is written to; VictoriaMetrics names series ``reading_<field>``.
MEASUREMENT = "reading"
#: The integer field that carries the reading's sequence number.
SEQ_FIELD = "seq"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_ESCAPE_TAG = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ "})


def escape_tag(text: str) -> str:
    """Escape a tag key or value (or field key) for line protocol; refuse what it cannot carry."""
    if not text:
        raise ValueError("line protocol cannot carry an empty tag key or value")
    if "\n" in text or "\r" in text:
        raise ValueError(f"line protocol cannot carry a line break in {text!r}")
    return text.translate(_ESCAPE_TAG)


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime, truncated (never rounded up)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: measured_at must carry a UTC offset")
    return (moment - _EPOCH) // _MS


def from_epoch_ms(epoch_ms: int) -> datetime:
    """The aware UTC datetime of an epoch-milliseconds timestamp."""
    return _EPOCH + epoch_ms * _MS


def format_float(value: float) -> str:
    """A finite float as line protocol writes it (shortest repr that reads back identically)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"line protocol cannot carry the non-finite value {value!r}")
    return repr(number)


@lru_cache(maxsize=65536)
def _series_key(device_id: str, gateway_id: str, kind: str, patient_id: int | None) -> str:
    """Measurement and sorted, escaped tags: the same for every reading of a series (cached)."""
    tags = {"device_id": device_id, "gateway_id": gateway_id, "kind": kind}
    if patient_id is not None:
        tags["patient_id"] = str(patient_id)
    tag_text = ",".join(f"{key}={escape_tag(value)}" for key, value in sorted(tags.items()))
    return f"{MEASUREMENT},{tag_text}"


@lru_cache(maxsize=64)
def _field_key(name: str) -> str:
    return escape_tag(name)


def encode_point(point: ReadingPoint) -> str:
    """The line-protocol record (no trailing newline) of one reading point, ms precision."""
    series = _series_key(point.device_id, point.gateway_id, point.kind, point.patient_id)
    fields = [f"{_field_key(name)}={format_float(value)}" for name, value in point.values.items()]
    fields.append(f"{SEQ_FIELD}={int(point.seq)}i")
    return f"{series} {','.join(fields)} {to_epoch_ms(point.measured_at)}"
