"""What the gateway decides about meters and their records: pure functions, no I/O.

The session layer (:mod:`edge.gateway.coordinator`) carries these decisions out.

* **Device ids.** A meter's caredge ``device_id`` is, in order: the id configured for its BLE
  address (``CAREDGE_DEVICE_IDS``), else ``f"{kind}-{model}-{serial}"`` with ``kind`` ``bp`` or
  ``glu`` and model and serial from Device Information (0x2A24, 0x2A25), lower-cased with every
  run of characters outside ``[a-z0-9._]`` (hyphens included) replaced by one ``-`` and cut to
  64 characters, else
  ``f"{kind}-ble-{address without colons}"``. Model and serial survive a battery change, a
  re-bond and a new gateway, unlike an address; the kind keeps a BP meter and a glucose meter
  of one vendor apart when their serials coincide. The cloud registers the device under the
  same id (``caredge gateway pair`` prints it).
* **Clock skew.** At each connection the gateway reads the meter's Current Time (0x2A2B) and its
  own clock; ``skew = meter − gateway``. When ``|skew|`` exceeds the threshold (default 5 min)
  every meter time received in that session is corrected by ``−skew`` and the correction is
  logged (the reading contract has no field for it). Below the threshold meter times are taken
  as they are: a few minutes of drift are not worth the risk of shifting a reading taken before
  the drift happened. The correction assumes the meter's clock was wrong by the same amount
  when the record was taken, which holds for drift and for a clock never set, not for a clock
  reset mid-memory (BLE-NOTES: meters lose their clock on battery change); nothing on the wire
  tells those apart. Records without a known time get the time they were received.
* **Natural keys** identify a record by the meter's own identity of it, so a meter that resends
  its memory does not produce new ``seq`` numbers: blood pressure
  ``("bp", device_id, user, meter timestamp)``; glucose ``("glucose", device_id, sequence
  number, base time)`` (the base time keeps a meter whose memory was reset from colliding with
  its old sequence numbers). Keys use the meter's uncorrected time, which never changes; the
  corrected time depends on the connection.
* **Control-solution samples** are meter checks, not patient values: they become device events
  (telemetry), never readings.
* **Parser errors** are counted per meter and characteristic; the first of a run is logged, the
  rest are counted silently, and the first good frame after a run logs the recovery.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from edge.gatt.blood_pressure import BloodPressureMeasurement
from edge.gatt.glucose import GlucoseContext, GlucoseMeasurement
from edge.gatt.racp import racp_report_all, racp_report_greater_or_equal

DEFAULT_SKEW_THRESHOLD = timedelta(minutes=5)
MAX_METER_SEQUENCE = 0xFFFF
MAX_ID_LENGTH = 64
EVENT_VERSION = 1

_SEPARATORS = re.compile(r"[^a-z0-9._]+")

NaturalKey = tuple[str | int | None, ...]


# --- device identity ---------------------------------------------------------------------------


def sanitize_id(text: str) -> str:
    """Lower-case ``text``; each run of characters outside [a-z0-9._] becomes one ``-``."""
    cleaned = _SEPARATORS.sub("-", text.strip().lower()).strip("-")
    return cleaned[:MAX_ID_LENGTH].rstrip("-")


def normalize_address(address: str) -> str:
    """A BLE address in the cloud's form: upper-case, colon separated."""
    return address.strip().upper().replace("-", ":")


def device_id_for(
    address: str,
    *,
    kind: str,
    model: str | None,
    serial: str | None,
    configured: Mapping[str, str] | None = None,
) -> str:
    """The caredge device_id of a meter (rules in the module docstring); ``kind`` bp or glu."""
    if configured:
        wanted = normalize_address(address)
        for known, device_id in configured.items():
            if normalize_address(known) == wanted:
                return device_id
    if model and serial and sanitize_id(f"{model}-{serial}"):
        return sanitize_id(f"{kind}-{model}-{serial}")
    return sanitize_id(f"{kind}-ble-" + normalize_address(address).replace(":", ""))


# --- clock ---------------------------------------------------------------------------------------


def local_time(naive: datetime, zone: tzinfo | None) -> datetime:
    """A meter's naive wall-clock time made aware in ``zone`` (None: this machine's local zone)."""
    if naive.tzinfo is not None:
        return naive
    if zone is None:
        return naive.astimezone()  # naive is interpreted as local time, DST rules included
    return naive.replace(tzinfo=zone)


@dataclass(frozen=True)
class ClockCheck:
    """The meter clock against the gateway clock, measured once per connection.

    ``skew`` is meter − gateway (None when the meter's clock is unknown or unreadable);
    ``correct`` says whether meter times of this session are shifted by ``−skew``.
    """

    skew: timedelta | None
    threshold: timedelta = DEFAULT_SKEW_THRESHOLD

    @property
    def correct(self) -> bool:
        """True when the skew is known and larger than the threshold."""
        return self.skew is not None and abs(self.skew) > self.threshold

    @property
    def clock_wrong(self) -> bool:
        """True when the meter's clock should be set: unknown, or off by more than the threshold."""
        return self.skew is None or abs(self.skew) > self.threshold

    def apply(self, meter_time: datetime) -> datetime:
        """``meter_time`` shifted onto the gateway's clock when the skew calls for it."""
        if self.skew is None or not self.correct:
            return meter_time
        return meter_time - self.skew

    def after_clock_written(self) -> ClockCheck:
        """The check once the gateway has set the meter's clock: later records need nothing."""
        return ClockCheck(timedelta(0), self.threshold)


def check_clock(
    meter_now: datetime | None,
    gateway_now: datetime,
    *,
    zone: tzinfo | None = None,
    threshold: timedelta = DEFAULT_SKEW_THRESHOLD,
) -> ClockCheck:
    """Compare the meter's Current Time (naive wall clock) with the gateway's aware ``now``."""
    if gateway_now.tzinfo is None:
        raise ValueError("gateway_now must be timezone-aware")
    if meter_now is None:
        return ClockCheck(None, threshold)
    # Meter times have a resolution of one second: a finer skew would only add read latency.
    skew = local_time(meter_now, zone) - gateway_now
    return ClockCheck(timedelta(seconds=round(skew.total_seconds())), threshold)


def measured_at(
    meter_time: datetime | None,
    check: ClockCheck,
    *,
    zone: tzinfo | None,
    received_at: datetime,
) -> datetime:
    """When a record was taken: its meter time, skew-corrected, or ``received_at`` if unknown."""
    if meter_time is None:
        return received_at
    return check.apply(local_time(meter_time, zone))


# --- natural keys and the glucose cursor ----------------------------------------------------


def bp_natural_key(device_id: str, measurement: BloodPressureMeasurement) -> NaturalKey | None:
    """``("bp", device, user, meter time)``; None without a time stamp (nothing identifies it)."""
    if measurement.timestamp is None:
        return None
    user = -1 if measurement.user_id is None else measurement.user_id
    return ("bp", device_id, user, measurement.timestamp.isoformat())


def glucose_natural_key(device_id: str, measurement: GlucoseMeasurement) -> NaturalKey:
    """``("glucose", device, meter sequence number, base time)``."""
    base = None if measurement.base_time is None else measurement.base_time.isoformat()
    return ("glucose", device_id, measurement.sequence_number, base)


def event_key(event: str, device_id: str, *parts: str | int | None) -> NaturalKey:
    """Natural key of a device event, so a resent control-solution record is reported once."""
    return ("event", event, device_id, *parts)


def racp_request_for(cursor: int | None) -> bytes:
    """The RACP request that fetches what is not in the outbox yet.

    "Report records ≥ cursor + 1", or all records the first time (cursor None) and after the
    last sequence number (the u16 would wrap; natural keys drop what was already delivered).
    """
    if cursor is None or cursor >= MAX_METER_SEQUENCE:
        return racp_report_all()
    return racp_report_greater_or_equal(cursor + 1)


def advance_cursor(cursor: int | None, sequence_numbers: list[int]) -> int | None:
    """The cursor after records ``sequence_numbers`` are in the outbox (never moves back)."""
    highest = max(sequence_numbers, default=None)
    if highest is None:
        return cursor
    return highest if cursor is None else max(cursor, highest)


@dataclass
class GlucoseAssembler:
    """Pairs each Glucose Measurement with the Context that follows it (same sequence number).

    A measurement whose flags announce a context is held until the context arrives, the next
    measurement arrives, or the procedure ends; each method returns the records now complete.
    ``orphan_contexts`` counts contexts matching no held measurement (they are dropped).
    """

    held: GlucoseMeasurement | None = None
    orphan_contexts: int = 0

    def measurement(
        self, record: GlucoseMeasurement
    ) -> list[tuple[GlucoseMeasurement, GlucoseContext | None]]:
        """Take a measurement; return the records completed by it."""
        done = self.finish()
        if record.context_follows:
            self.held = record
        else:
            done.append((record, None))
        return done

    def context(
        self, context: GlucoseContext
    ) -> list[tuple[GlucoseMeasurement, GlucoseContext | None]]:
        """Take a context; return the record it completes (or nothing if it is an orphan)."""
        if self.held is not None and self.held.sequence_number == context.sequence_number:
            record, self.held = self.held, None
            return [(record, context)]
        self.orphan_contexts += 1
        return []

    def finish(self) -> list[tuple[GlucoseMeasurement, GlucoseContext | None]]:
        """The procedure ended (or a new record started): release a held measurement."""
        if self.held is None:
            return []
        record, self.held = self.held, None
        return [(record, None)]


# --- parser errors -------------------------------------------------------------------------------


@dataclass
class ParseErrorTracker:
    """Counts parser errors per source (meter, characteristic); says when to log.

    ``failed`` returns True for the first error of a run (log it); ``recovered`` returns how
    many errors the run that just ended had (log a recovery when it is not 0).
    """

    total: int = 0
    _runs: dict[tuple[str, str], int] = field(default_factory=dict)

    def failed(self, meter: str, characteristic: str) -> bool:
        """Count an error; True when it starts a run of errors (the one to log)."""
        self.total += 1
        key = (meter, characteristic)
        count = self._runs.get(key, 0) + 1
        self._runs[key] = count
        return count == 1

    def recovered(self, meter: str, characteristic: str) -> int:
        """A good frame: the number of errors in the run it ends (0 when there was none)."""
        return self._runs.pop((meter, characteristic), 0)

    def failing(self) -> dict[str, int]:
        """Sources in a run of errors, ``"meter/characteristic": count`` (for the status)."""
        return {f"{meter}/{char}": count for (meter, char), count in self._runs.items()}


# --- when to talk to a meter ---------------------------------------------------------------------


def retry_delay(failures: int, *, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds to wait before the next session after ``failures`` failed ones in a row."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (failures - 1)))


def next_session_at(last_end: float | None, *, failures: int, interval: float, now: float) -> float:
    """Monotonic time from which a new session with a meter may start.

    After a success, wait ``interval`` (meters that keep advertising are not polled in a loop);
    after failures, back off exponentially.
    """
    if last_end is None:
        return now
    return last_end + (retry_delay(failures) if failures else interval)


# --- device events (telemetry) -------------------------------------------------------------------


def device_event(
    event: str,
    *,
    gateway_id: str,
    device_id: str,
    at: datetime,
    **details: Any,
) -> bytes:
    """JSON of a device event (telemetry, not clinical data): control solution, clock skew."""
    if at.tzinfo is None:
        raise ValueError("device event time must be timezone-aware")
    body: dict[str, Any] = {
        "v": EVENT_VERSION,
        "type": "device_event",
        "event": event,
        "gateway_id": gateway_id,
        "device_id": device_id,
        "at": at.isoformat(),
    }
    body.update(details)
    return json.dumps(body, separators=(",", ":"), default=str).encode()
