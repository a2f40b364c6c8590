"""SQL side of ingest: what the pipeline needs to know, and the ledger commit of a batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from cloud.db import dialect_insert
from cloud.deadletters.models import DeadLetter
from cloud.devices.models import Device, DeviceBinding, Gateway
from cloud.ingest.pipeline import AnyReading, Binding, Key, Rejected
from cloud.readings.models import ReadingKey

_KEY_CHUNK = 400  # bound the size of one "IN (...)" list


def load_devices(session: Session, gateway_ids: Iterable[str]) -> dict[str, set[str]]:
    """Registered device ids per gateway."""
    ids = list(gateway_ids)
    found: dict[str, set[str]] = {gateway_id: set() for gateway_id in ids}
    if ids:
        rows = session.execute(
            select(Device.gateway_id, Device.id).where(Device.gateway_id.in_(ids))
        )
        for gateway_id, device_id in rows:
            found[gateway_id].add(device_id)
    return found


def stored_keys(session: Session, keys: Sequence[Key]) -> set[Key]:
    """Which of keys the ledger already holds."""
    found: set[Key] = set()
    columns = tuple_(ReadingKey.gateway_id, ReadingKey.device_id, ReadingKey.seq)
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        rows = session.execute(
            select(ReadingKey.gateway_id, ReadingKey.device_id, ReadingKey.seq).where(
                columns.in_(chunk)
            )
        )
        found.update((g, d, s) for g, d, s in rows)
    return found


def load_bindings(session: Session, device_ids: Iterable[str]) -> dict[str, list[Binding]]:
    """Every binding of the given devices."""
    ids = list(set(device_ids))
    bindings: dict[str, list[Binding]] = defaultdict(list)
    if ids:
        rows = session.scalars(select(DeviceBinding).where(DeviceBinding.device_id.in_(ids)))
        for row in rows:
            bindings[row.device_id].append(
                Binding(row.device_id, row.patient_id, row.valid_from, row.valid_until)
            )
    return bindings


def record_batch(
    session: Session,
    *,
    accepted: Sequence[tuple[AnyReading, int | None]],
    rejected: Sequence[Rejected],
    received_at: datetime,
) -> None:
    """Add the ledger rows, dead letters and last-seen times of one batch to session."""
    if accepted:
        insert = dialect_insert(session.get_bind().dialect.name)
        session.execute(
            insert(ReadingKey).on_conflict_do_nothing(),
            [
                {
                    "gateway_id": reading.gateway_id,
                    "device_id": reading.device_id,
                    "seq": reading.seq,
                    "patient_id": patient_id,
                    "kind": reading.kind,
                    "measured_at": reading.measured_at,
                    "received_at": received_at,
                }
                for reading, patient_id in accepted
            ],
        )
    session.add_all(
        DeadLetter(
            topic=item.message.topic[:255],
            gateway_id=item.gateway_id,
            payload=item.message.payload,
            reason=item.reason,
            received_at=received_at,
        )
        for item in rejected
    )
    _touch_last_seen(session, accepted, received_at)


def _touch_last_seen(
    session: Session, accepted: Sequence[tuple[AnyReading, int | None]], at: datetime
) -> None:
    gateways = {reading.gateway_id for reading, _ in accepted}
    devices = {reading.device_id for reading, _ in accepted}
    if gateways:
        session.execute(update(Gateway).where(Gateway.id.in_(gateways)).values(last_seen_at=at))
    if devices:
        session.execute(update(Device).where(Device.id.in_(devices)).values(last_seen_at=at))
