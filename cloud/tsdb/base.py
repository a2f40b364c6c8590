"""The time-series store interface and the point type both adapters exchange."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar, NamedTuple

from cloud.errors import StoreUnavailableError
from protocol.envelope import BloodPressureReading, GlucoseReading

#: Numeric fields stored per reading kind, in clinical units.
FIELDS: dict[str, tuple[str, ...]] = {
    "blood_pressure": ("systolic_mmhg", "diastolic_mmhg", "map_mmhg", "pulse_bpm"),
    "glucose": ("glucose_mmol_l",),
}


class ReadingPoint(NamedTuple):
    """One stored reading: identity, owner, time and its numeric values.

    A named tuple: the ingest worker builds one per reading, in less than half the time of a
    frozen dataclass (whose ``__init__`` sets every field through ``object.__setattr__``).
    """

    gateway_id: str
    device_id: str
    seq: int
    kind: str
    measured_at: datetime
    patient_id: int | None
    values: dict[str, float]

    @property
    def key(self) -> tuple[str, str, int]:
        """The idempotency key (gateway_id, device_id, seq)."""
        return (self.gateway_id, self.device_id, self.seq)

    @classmethod
    def from_reading(
        cls, reading: BloodPressureReading | GlucoseReading, patient_id: int | None
    ) -> ReadingPoint:
        """The point to store for a validated reading owned by patient_id (None: unbound)."""
        values = {
            name: float(value)
            for name in FIELDS[reading.kind]
            if (value := getattr(reading, name)) is not None
        }
        return cls(
            reading.gateway_id,
            reading.device_id,
            reading.seq,
            reading.kind,
            reading.measured_at,
            patient_id,
            values,
        )


#: What ``write_unpersisted`` returns and ``persist`` checks; opaque to callers.
WriteReceipt = object


class UnpersistedWritesLostError(StoreUnavailableError):
    """``persist`` cannot vouch for earlier unpersisted writes (the server restarted since):
    write them again, then persist again."""


class ReadingStore(ABC):
    """Where reading values live. ``write`` is durable and idempotent per key on return.

    A store may also offer a cheaper pair: ``write_unpersisted`` (searchable on return, not
    crash-durable; returns a receipt) and ``persist`` (makes every earlier unpersisted write
    durable at once, and checks the receipts). ``persists_separately`` tells whether that pair
    differs from ``write``.
    """

    #: True when ``write`` touches no SQL database: the ingest worker may then run it beside
    #: its open ledger transaction (on SQLite, a store writing to the same file would wait
    #: for that transaction's lock while the transaction waits for the write).
    writes_outside_sql: ClassVar[bool] = False

    @abstractmethod
    def write(self, points: Sequence[ReadingPoint]) -> None:
        """Store points durably; rewriting a stored key must not create a second reading.

        Raises ``cloud.errors.StoreUnavailableError`` when the store cannot take them now.
        """

    @property
    def persists_separately(self) -> bool:
        """True when ``write_unpersisted`` returns before the points are crash-durable."""
        return False

    def write_unpersisted(self, points: Sequence[ReadingPoint]) -> WriteReceipt:
        """Store points, searchable on return; durable after the next successful ``persist``."""
        self.write(points)
        return None

    def persist(self, receipts: Iterable[WriteReceipt] = ()) -> None:  # noqa: B027
        """Make every earlier ``write_unpersisted`` durable (a no-op where ``write`` is).

        Raises ``UnpersistedWritesLostError`` when a write of receipts may be lost (write it
        again and persist again), ``StoreUnavailableError`` when the store cannot persist now.
        """

    @abstractmethod
    def query(
        self,
        *,
        patient_id: int,
        since: datetime,
        until: datetime,
        kind: str | None = None,
    ) -> list[ReadingPoint]:
        """Points of one patient with since <= measured_at < until, oldest first."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailableError if the store cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release connections."""
