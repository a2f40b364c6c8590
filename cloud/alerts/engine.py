"""Alert evaluation in the ingest stream: one call per stored batch, inside its transaction.

The ingest worker calls :func:`evaluate_readings` with the readings it accepted, in the same
transaction as the ledger rows, so an alert exists if and only if its readings are stored
(a crash before the commit redelivers the batch; nothing is alerted twice or missed).
The number of statements is fixed per batch, not per reading: active alerts, thresholds and
last values of the batch's patients are read once, and every table is written with one Core
statement (the alerts as plain records, not ORM objects: the unit of work was most of the
engine's cost); on PostgreSQL each new alert (rare) is inserted at once in a savepoint, so a
race between two workers is decided by the unique constraint. Notifications for new alerts
are queued with a fixed number of lookups.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, select, text
from sqlalchemy.orm import Session

from cloud.alerts import lifecycle, service
from cloud.alerts.lifecycle import AlertStatus, ClearPolicy, Transition
from cloud.alerts.models import PatientLastReading
from cloud.alerts.rules import AnyReading, Breach, GlucosePoint, evaluate
from cloud.alerts.service import AlertChange, AlertRecord, change_of
from cloud.db import dialect_insert, in_batch
from cloud.errors import CloudError
from cloud.oncall.service import start_escalation
from protocol.envelope import BloodPressureReading

log = logging.getLogger(__name__)

DEFAULT_CLEAR_POLICY = ClearPolicy()


class ConcurrentAlertError(CloudError):
    """Another worker opened and closed the same alert during this batch; retry the batch."""

    def __init__(self, patient_id: int, rule_id: str) -> None:
        super().__init__(f"alert {rule_id} of patient {patient_id} changed concurrently")
        self.patient_id = patient_id
        self.rule_id = rule_id


LAST_READINGS = cast(Table, PatientLastReading.__table__)
LastValues = dict[tuple[int, str], tuple[datetime, float]]
_LAST = LAST_READINGS.c


@cache
def _last_values_query(dialect_name: str) -> Select[Any]:
    """Built once per dialect, like the engine's other per-batch statements."""
    return select(_LAST.patient_id, _LAST.kind, _LAST.measured_at, _LAST.value).where(
        in_batch(_LAST.patient_id, "patient_ids", dialect_name)
    )


def primary_value(reading: AnyReading) -> float:
    """The value a reading is charted and compared by: systolic mmHg or glucose mmol/L."""
    if isinstance(reading, BloodPressureReading):
        return reading.systolic_mmhg
    return reading.glucose_mmol_l


def last_values(session: Session, *, patient_ids: Sequence[int]) -> LastValues:
    """Newest (measured_at, value) per patient and kind, in one query."""
    if not patient_ids:
        return {}
    query = _last_values_query(session.get_bind().dialect.name)
    rows = session.execute(query, {"patient_ids": sorted(patient_ids)})
    return {(patient_id, kind): (at, value) for patient_id, kind, at, value in rows}


def _save_last_values(session: Session, values: LastValues) -> None:
    """Upsert the newest values in one statement; an older value never overwrites a newer one
    (another worker may have stored a newer reading meanwhile). Core, not the ORM's bulk
    path: no object is involved and the ORM's per-row bookkeeping is the cost of it."""
    if not values:
        return
    dialect_name = session.get_bind().dialect.name
    if dialect_name == "postgresql":  # one row of arrays: see _LAST_VALUES_UPSERT_POSTGRES
        items = sorted(values.items())
        session.execute(
            _LAST_VALUES_UPSERT_POSTGRES,
            {
                "patient_ids": [patient_id for (patient_id, _), _ in items],
                "kinds": [kind for (_, kind), _ in items],
                "measured": [at for _, (at, _) in items],
                "values": [value for _, (_, value) in items],
            },
        )
        return
    session.execute(
        _last_values_upsert(dialect_name),
        [
            {"patient_id": patient_id, "kind": kind, "measured_at": at, "value": value}
            for (patient_id, kind), (at, value) in sorted(values.items())
        ],
    )


#: The upsert as one statement of column arrays: an executemany of a thousand patients' rows
#: costs psycopg a query conversion and a dump per row, most of the engine's time under live
#: load from many homes. Keys are unique (one per patient and kind), as ON CONFLICT requires.
_LAST_VALUES_UPSERT_POSTGRES = text(
    """
    INSERT INTO patient_last_readings (patient_id, kind, measured_at, value)
    SELECT * FROM unnest(CAST(:patient_ids AS integer[]), CAST(:kinds AS varchar[]),
                         CAST(:measured AS timestamptz[]), CAST(:values AS float8[]))
    ON CONFLICT (patient_id, kind) DO UPDATE
    SET measured_at = excluded.measured_at, value = excluded.value
    WHERE patient_last_readings.measured_at < excluded.measured_at
    """
)


@cache
def _last_values_upsert(dialect_name: str) -> Insert:
    """The upsert of :func:`_save_last_values`, built once per dialect (building ``excluded``
    took about half a millisecond per batch)."""
    table = LAST_READINGS
    statement = dialect_insert(dialect_name)(table)
    return statement.on_conflict_do_update(
        index_elements=["patient_id", "kind"],
        set_={"measured_at": statement.excluded.measured_at, "value": statement.excluded.value},
        where=table.c.measured_at < statement.excluded.measured_at,
    )


def evaluate_readings(
    session: Session,
    *,
    readings: Sequence[tuple[AnyReading, int | None]],
    now: datetime,
    clear_policy: ClearPolicy = DEFAULT_CLEAR_POLICY,
) -> list[AlertChange]:
    """Evaluate stored readings (with their owner; None: unbound, skipped) against the rules.

    Opens, attaches to and auto-resolves alerts, audits the transitions and queues the first
    notifications of new alerts; returns what changed, in reading time order. The caller's
    transaction commits.

    The common reading breaches nothing and meets no active alert of its patient: it costs
    the rule evaluation and a few dictionary look-ups, no SQL. The lifecycle of each active
    alert runs on its pure status, loaded once per batch; a record is written only when its
    status or readings change.
    """
    owned = sorted(
        ((reading, patient_id) for reading, patient_id in readings if patient_id is not None),
        key=lambda item: item[0].measured_at,
    )
    if not owned:
        return []
    patient_ids = sorted({patient_id for _, patient_id in owned})
    alerts = _ActiveAlerts(service.active_alert_records(session, patient_ids=patient_ids))
    thresholds = service.thresholds_of(session, patient_ids=patient_ids)
    last = last_values(session, patient_ids=patient_ids)
    changed_last: LastValues = {}
    events: list[tuple[AlertRecord, Transition]] = []
    opened: list[AlertRecord] = []
    resolved: list[AlertRecord] = []
    attached: list[tuple[AlertRecord, AnyReading, Breach]] = []
    dirty: dict[int, AlertRecord] = {}  # by id(): records to write, new ones in opening order
    for reading, patient_id in owned:
        measured_at = reading.measured_at
        key = (patient_id, reading.kind)
        newest = last.get(key)
        previous_glucose = None
        if newest is not None and newest[0] < measured_at and reading.kind == "glucose":
            previous_glucose = GlucosePoint(newest[0], newest[1])
        evaluation = evaluate(reading, thresholds[patient_id], previous_glucose=previous_glucose)
        if not evaluation.relevant:
            continue
        if newest is None or newest[0] < measured_at:
            last[key] = changed_last[key] = (measured_at, primary_value(reading))
        for breach in evaluation.breaches:
            alert = alerts.get(patient_id, breach.rule_id)
            if alert is None:
                alert = service.open_alert_record(
                    session, patient_id=patient_id, breach=breach, now=now, changed=dirty
                )
                if alert is None:  # another worker opened it a moment ago: attach to theirs
                    alerts.reload(service.active_alert_records(session, patient_ids=[patient_id]))
                    alert = alerts.get(patient_id, breach.rule_id)
                    if alert is None:  # ... and it is resolved already: the batch is retried
                        raise ConcurrentAlertError(patient_id, breach.rule_id.value)
                else:
                    alerts.add(alert)
                    opened.append(alert)
                    events.append((alert, Transition.OPENED))
            else:
                events.append((alert, Transition.ATTACHED))
            status = service.attach_reading(
                alert, alerts.status(alert), reading=reading, breach=breach, now=now
            )
            alerts.set_status(alert, status)
            attached.append((alert, reading, breach))
            dirty[id(alert)] = alert
        active = alerts.by_patient.get(patient_id)
        if not active:  # the common case: nothing to clear
            continue
        clear = evaluation.clear
        for alert in [alert for rule_id, alert in active.items() if rule_id in clear]:
            status = alerts.status(alert)
            new_status, transition = lifecycle.on_clear(
                status, measured_at=measured_at, policy=clear_policy
            )
            if transition is Transition.AUTO_RESOLVED:
                service.apply_status(alert, new_status, now=now)
                alerts.remove(alert)
                resolved.append(alert)
                events.append((alert, Transition.AUTO_RESOLVED))
                dirty[id(alert)] = alert
            elif new_status is not status:
                alert.clear_since = new_status.clear_since
                alerts.set_status(alert, new_status)
                dirty[id(alert)] = alert
    service.write_alert_records(session, list(dirty.values()))  # new alerts get their ids
    service.add_alert_readings(session, attached)
    _save_last_values(session, changed_last)
    service.audit_transitions(session, opened=opened, auto_resolved=resolved)
    start_escalation(
        session, alerts=[alert for alert in opened if alert.active_rule_id is not None], now=now
    )
    return [change_of(alert, transition, now) for alert, transition in events]


class _ActiveAlerts:
    """The batch's active alerts by patient and rule, with their lifecycle status.

    A status is read from its row once and then follows the pure lifecycle (attaching a
    reading returns the new status too).
    """

    def __init__(self, rows: dict[tuple[int, str], AlertRecord]) -> None:
        #: Active records of each patient by rule.
        self.by_patient: dict[int, dict[str, AlertRecord]] = {}
        self._statuses: dict[int, AlertStatus] = {}
        self.reload(rows)

    def reload(self, rows: dict[tuple[int, str], AlertRecord]) -> None:
        """Add (or replace) the given active rows."""
        for alert in rows.values():
            self.add(alert)

    def add(self, alert: AlertRecord) -> None:
        """A row that is active now."""
        self.by_patient.setdefault(alert.patient_id, {})[alert.rule_id] = alert
        self._statuses.pop(id(alert), None)

    def get(self, patient_id: int, rule_id: str) -> AlertRecord | None:
        """The patient's active alert of rule_id, if any."""
        return self.by_patient.get(patient_id, {}).get(rule_id)

    def status(self, alert: AlertRecord) -> AlertStatus:
        """The lifecycle status of an active row."""
        status = self._statuses.get(id(alert))
        if status is None:
            status = self._statuses[id(alert)] = service.status_of(alert)
        return status

    def set_status(self, alert: AlertRecord, status: AlertStatus) -> None:
        """Remember status (already copied to the row)."""
        self._statuses[id(alert)] = status

    def remove(self, alert: AlertRecord) -> None:
        """A row that is no longer active."""
        del self.by_patient[alert.patient_id][alert.rule_id]
        self._statuses.pop(id(alert), None)
