"""Pure ingest decisions for one batch of MQTT messages (no I/O).

A batch goes through ``triage`` twice-safe: it decides, for every message, whether it is a
reading to store, a duplicate to acknowledge silently, a reading to write again to the
time-series store (its ledger row is not known durable there) or a dead letter with a reason.
The worker supplies what it read from SQL (registered devices, ledger rows, bindings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from cloud.devices.bindings import Binding, owner_at
from protocol.confirmations import Confirmation, group_by_gateway, reading_key_of
from protocol.envelope import BloodPressureReading, GlucoseReading, PayloadError, decode_reading
from protocol.topics import GatewayTopic, TopicError

Key = tuple[str, str, int]
AnyReading = BloodPressureReading | GlucoseReading
#: Default of ``CAREDGE_INGEST_MAX_PAYLOAD_BYTES``: the largest valid reading is under 1 KiB.
MAX_PAYLOAD_BYTES = 4096


class Inbound(NamedTuple):
    """One MQTT message as received: enough to process, dead-letter and acknowledge it.

    A named tuple: paho's network thread builds one per message, in about a third of the
    time a frozen dataclass takes, and every microsecond there is taken from paho itself.
    """

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    generation: int = 0
    #: time.monotonic() when paho handed the message over (for the ingest lag metric).
    received: float = 0.0


class Undurable(NamedTuple):
    """A ledger row whose point is not known durable in the time-series store: the owner the
    point was written for, its kind and measurement time."""

    patient_id: int | None
    kind: str
    measured_at: datetime


@dataclass(frozen=True)
class Rejected:
    """A message that becomes a dead letter."""

    message: Inbound
    reason: str
    gateway_id: str | None


@dataclass
class Decoded:
    """First pass: readings that passed validation, and what did not."""

    readings: list[tuple[Inbound, AnyReading]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def gateway_ids(self) -> set[str]:
        """Gateways whose device registrations the second pass needs."""
        return {reading.gateway_id for _, reading in self.readings}


@dataclass
class Triage:
    """Second pass: what to store, what was already stored, what to dead-letter.

    ``rewrites`` are readings in the ledger whose points are not known durable in the
    time-series store: they are written there again (with the ledger's owner) but are not new,
    so the alert rules do not see them again.
    """

    accepted: list[tuple[AnyReading, int | None]] = field(default_factory=list)
    duplicate_keys: list[Key] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rewrites: list[tuple[AnyReading, int | None]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Readings already stored (or repeated within the batch)."""
        return len(self.duplicate_keys)

    @property
    def keys(self) -> list[Key]:
        """Keys this batch writes: accepted and rewritten readings."""
        return [reading.key for reading, _ in (*self.accepted, *self.rewrites)]


def decode_batch(
    messages: Iterable[Inbound], *, max_payload_bytes: int = MAX_PAYLOAD_BYTES
) -> Decoded:
    """Validate topic and payload of each message; mismatches become rejections.

    A payload over max_payload_bytes is refused before it is parsed (settings:
    ``CAREDGE_INGEST_MAX_PAYLOAD_BYTES``); its reason gives the size, as the dead letter keeps
    only the payload's start (``cloud/deadletters/service.py``).
    """
    decoded = Decoded()
    for message in messages:
        try:
            topic = GatewayTopic.parse(message.topic)
        except TopicError as exc:
            decoded.rejected.append(Rejected(message, str(exc), None))
            continue
        if topic.channel != "reading":
            decoded.rejected.append(
                Rejected(message, f"not a reading topic: {message.topic}", topic.gateway_id)
            )
            continue
        if len(message.payload) > max_payload_bytes:
            reason = (
                f"payload of {len(message.payload)} bytes exceeds the "
                f"{max_payload_bytes}-byte limit"
            )
            decoded.rejected.append(Rejected(message, reason, topic.gateway_id))
            continue
        try:
            reading = decode_reading(message.payload)
        except PayloadError as exc:
            decoded.rejected.append(Rejected(message, exc.reason, topic.gateway_id))
            continue
        if reading.gateway_id != topic.gateway_id:
            reason = (
                f"payload gateway_id {reading.gateway_id!r} does not match topic gateway "
                f"{topic.gateway_id!r}"
            )
            decoded.rejected.append(Rejected(message, reason, topic.gateway_id))
            continue
        decoded.readings.append((message, reading))
    return decoded


def triage(
    decoded: Decoded,
    *,
    devices_by_gateway: Mapping[str, set[str]],
    stored_keys: Set[Key],
    bindings: Mapping[str, Sequence[Binding]],
    undurable: Mapping[Key, Undurable] | None = None,
) -> Triage:
    """Drop duplicates and unregistered devices; rewrite stored readings not known durable.

    A key is a duplicate when repeated in the batch or in stored_keys (ledger rows known
    durable, and keys of batches being stored). A key in undurable (ledger rows whose points
    may be lost) is rewritten if the reading matches the row (kind and measurement time);
    otherwise the payload is not a redelivery but a conflicting reading under a known key,
    and writing it would add a second point: a duplicate too.
    """
    undurable = undurable or {}
    result = Triage(rejected=list(decoded.rejected))
    seen: set[Key] = set()
    for message, reading in decoded.readings:
        if reading.device_id not in devices_by_gateway.get(reading.gateway_id, set()):
            reason = (
                f"device {reading.device_id!r} is not registered to gateway {reading.gateway_id!r}"
            )
            result.rejected.append(Rejected(message, reason, reading.gateway_id))
            continue
        if reading.key in stored_keys or reading.key in seen:
            result.duplicate_keys.append(reading.key)
            continue
        seen.add(reading.key)
        row = undurable.get(reading.key)
        if row is not None:
            if (row.kind, row.measured_at) == (reading.kind, reading.measured_at):
                result.rewrites.append((reading, row.patient_id))
            else:
                result.duplicate_keys.append(reading.key)
            continue
        owner = owner_at(bindings.get(reading.device_id, ()), reading.measured_at)
        result.accepted.append((reading, owner))
    return result


def confirmations(result: Triage) -> dict[str, Confirmation]:
    """What to confirm to each gateway once the batch is durable: every reading stored now or
    before, and every dead letter that still names its ``(device_id, seq)``.

    A dead letter is confirmed as rejected so the gateway stops re-sending what can never be
    stored; the cloud keeps it with its reason. Messages dropped before triage (rate limits)
    are not here, so their gateways send them again later.
    """
    stored = [*result.keys, *result.duplicate_keys]
    rejected = [
        (item.gateway_id, *key, item.reason)
        for item in result.rejected
        if item.gateway_id is not None and (key := reading_key_of(item.message.payload))
    ]
    return group_by_gateway(stored, rejected)
