"""SQL side of ingest: what the pipeline needs to know, and the ledger commit of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from cloud.db import dialect_insert
from cloud.deadletters.service import add_dead_letter
from cloud.devices.service import touch_last_seen
from cloud.ingest.last_seen import LastSeen
from cloud.ingest.pipeline import AnyReading, Key, Rejected
from cloud.readings.models import ReadingKey

_KEY_CHUNK = 400  # bound the size of one "IN (...)" list


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


def record_batch(
    session: Session,
    *,
    accepted: Sequence[tuple[AnyReading, int | None]],
    rejected: Sequence[Rejected],
    received_at: datetime,
    last_seen: LastSeen,
) -> None:
    """Add the ledger rows, dead letters and last-seen times of one batch to session."""
    if accepted:
        insert = dialect_insert(session.get_bind().dialect.name)
        session.execute(
            insert(ReadingKey.__table__).on_conflict_do_nothing(),
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
    for item in rejected:
        add_dead_letter(
            session,
            topic=item.message.topic,
            payload=item.message.payload,
            reason=item.reason,
            gateway_id=item.gateway_id,
            received_at=received_at,
        )
    for gateway_id, devices in last_seen.items():
        touch_last_seen(session, gateway_id=gateway_id, device_seen=devices)
