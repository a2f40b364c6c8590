"""CPU cost of the alert engine alone, per reading, on the ingest bench's realistic readings.

Runs ``cloud.alerts.engine.evaluate_readings`` on SQLite over batches shaped like the ingest
worker's (``--batch`` readings, an equal slice of every gateway's stream), each in its own
transaction, and reports the process CPU time (``time.process_time``) spent in the engine and
its flush per reading: a figure that other load on the machine hardly moves, unlike a rate.
The commit is outside the measurement (the ingest batch commits anyway).

``--on-call`` puts the patients in a ward with nurses on call, so new alerts queue
notifications (the ingest bench's homes have no ward: every alert is audited as unrouted).
``--dump FILE`` writes the resulting alert tables (wall-clock audit times left out) and the
changes the engine returned as JSON, for comparing two versions of the engine.
Run: ``.venv/bin/python bench/alert_engine.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import astuple
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import realistic_readings  # noqa: E402
from cloud.alerts.engine import evaluate_readings  # noqa: E402
from cloud.auth.models import User  # noqa: E402
from cloud.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.oncall import service as oncall  # noqa: E402
from tests.support import T0, seed_home  # noqa: E402

#: Tables the engine writes, each with the columns that order its rows deterministically.
DUMPED = {
    "alerts": "id",
    "alert_readings": "id",
    "audit_log": "id",
    "escalation_states": "alert_id",
    "notifications": "id",
    "patient_last_readings": "patient_id, kind",
}


def seed_on_call(factory: sessionmaker[Session], patient_ids: list[int]) -> None:
    """One ward holding every patient, with a nurse on call at each of three tiers."""
    with transaction(factory) as session:
        ward = oncall.create_ward(
            session, name="Bench", timezone="Asia/Shanghai", escalation_policy_id=None, actor="b"
        )
        for tier, phone, mqtt in ((1, "+8613800000001", True), (2, None, False)):
            user = User(username=f"nurse{tier}", password_hash="-", role="nurse")
            session.add(user)
            session.flush()
            nurse = oncall.create_nurse(
                session, user_id=user.id, ward_id=ward.id, phone=phone, mqtt_enabled=mqtt,
                actor="b",
            )  # fmt: skip
            oncall.create_shift(
                session, ward_id=ward.id, nurse_id=nurse.id, tier=tier,
                starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=30), actor="b",
            )  # fmt: skip
        for patient_id in patient_ids:
            oncall.assign_patient(session, patient_id=patient_id, ward_id=ward.id, actor="b")


def dump_tables(factory: sessionmaker[Session]) -> dict[str, list[list[str]]]:
    """The engine's tables as strings, audit entries without their wall-clock time."""
    dumped: dict[str, list[list[str]]] = {}
    with factory() as session:
        for table, order in DUMPED.items():
            result = session.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))  # noqa: S608
            columns = list(result.keys())
            dumped[table] = [
                [str(value) for column, value in zip(columns, row, strict=True) if column != "at"]
                for row in result
            ]
    return dumped


def run(
    gateways: int, per_gateway: int, batch: int, on_call: bool, dump: Path | None, url: str
) -> dict[str, Any]:
    """Seed, evaluate every batch, and return the figures."""
    with tempfile.TemporaryDirectory(prefix="caredge-engine-bench-") as tmp:
        url = url or f"sqlite:///{tmp}/alerts.db"
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        owner = {
            f"gw-{i:04d}": seed_home(factory, f"gw-{i:04d}", f"P{i:05d}") for i in range(gateways)
        }
        if on_call:
            seed_on_call(factory, list(owner.values()))
        streams = {gateway: realistic_readings(gateway, per_gateway) for gateway in owner}
        step = max(1, batch // gateways)
        batches = [
            [
                (reading, owner[gateway])
                for gateway in owner
                for reading in streams[gateway][start : start + step]
            ]
            for start in range(0, per_gateway, step)
        ]
        total = sum(len(readings) for readings in batches)
        cpu = 0.0
        changes: list[list[str]] = []
        for index, readings in enumerate(batches):
            with transaction(factory) as session:
                started = time.process_time()
                batch_changes = evaluate_readings(
                    session, readings=readings, now=T0 + timedelta(days=10, seconds=index)
                )
                session.flush()
                cpu += time.process_time() - started
            changes += [[str(value) for value in astuple(change)] for change in batch_changes]
        if dump is not None:
            tables = dump_tables(factory)
            dump.write_text(json.dumps({**tables, "changes": changes}, indent=0) + "\n")
        with factory() as session:
            counts = {
                table: session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                for table in DUMPED
            }
        engine.dispose()
    return {
        "readings": total,
        "batches": len(batches),
        "alert_changes": len(changes),
        "engine_cpu_s": round(cpu, 3),
        "engine_cpu_us_per_reading": round(1e6 * cpu / total, 1),
        "rows": counts,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the micro-benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", type=int, default=20, help="patients, one home each")
    parser.add_argument("--per-gateway", type=int, default=5000, help="readings per patient")
    parser.add_argument("--batch", type=int, default=1000, help="readings per engine call")
    parser.add_argument("--on-call", action="store_true", help="a ward with nurses on call")
    parser.add_argument(
        "--database-url", default="", help="an empty database (default: SQLite in tmp)"
    )
    parser.add_argument("--dump", type=Path, help="write the resulting tables to this JSON file")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.gateways, args.per_gateway, args.batch) < 1:
        parser.error("--gateways, --per-gateway and --batch must be at least 1")
    logging.basicConfig(level=logging.ERROR)  # not one "nobody on call" per alert
    figures = run(
        args.gateways, args.per_gateway, args.batch, args.on_call, args.dump, args.database_url
    )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
