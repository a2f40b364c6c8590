"""The SQLite outbox: durability, idempotent puts, atomic cursors, the bound and drain order."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.errors import EdgeError
from edge.outbox import Outbox, OutboxError

REPO = Path(__file__).resolve().parents[3]
TOPIC = "caredge/v1/gw/gw1/reading"
BEACON = "caredge/v1/gw/gw1/beacon"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gw" / "outbox.db"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox(path)
    yield box
    box.close()


def payloads(box: Outbox, limit: int = 1000) -> list[bytes]:
    return [entry.payload for entry in box.peek(limit)]


def run_and_kill(script: str) -> subprocess.CompletedProcess[str]:
    """Run Python code that ends by SIGKILLing itself (no close, no atexit)."""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done


def test_database_is_wal_with_full_sync(outbox: Outbox, path: Path) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_put_survives_a_killed_process(path: Path) -> None:
    done = run_and_kill(
        f"""
import os, signal
from edge.outbox import Outbox
box = Outbox({str(path)!r})
ids = [box.put("reading", {TOPIC!r}, b"reading-%d" % n, ("bp-1", n)) for n in range(50)]
box.set_cursor("glu-1", 7)
print(ids[-1], box.next_seq("bp-1"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    last_id, seq = map(int, done.stdout.split())
    with Outbox(path) as box:
        assert payloads(box) == [b"reading-%d" % n for n in range(50)]
        assert box.peek(100)[-1].id == last_id
        assert box.depth() == {"reading": 50, "telemetry": 0}
        assert box.get_cursor("glu-1") == 7
        assert box.next_seq("bp-1") == seq + 1
        assert box.has_key(("bp-1", 49))


def test_put_is_idempotent_on_the_natural_key(outbox: Outbox) -> None:
    first = outbox.put("reading", TOPIC, b"a", ("bp-1", 0, "2026-11-01T06:00"))
    assert first is not None
    assert outbox.put("reading", TOPIC, b"a again", ("bp-1", 0, "2026-11-01T06:00")) is None
    assert outbox.put("reading", TOPIC, b"b", ("bp-1", 1, "2026-11-01T06:00")) is not None
    assert payloads(outbox) == [b"a", b"b"]
    # The key outlives delivery: a meter resending its memory later is still not enqueued.
    outbox.ack([first])
    assert outbox.put("reading", TOPIC, b"a third time", ("bp-1", 0, "2026-11-01T06:00")) is None
    assert payloads(outbox) == [b"b"]


def test_entries_without_a_key_are_always_enqueued(outbox: Outbox) -> None:
    outbox.put("reading", TOPIC, b"same")
    outbox.put("reading", TOPIC, b"same")
    assert outbox.depth()["reading"] == 2


def test_forgotten_keys_can_be_enqueued_again(outbox: Outbox) -> None:
    outbox.put("reading", TOPIC, b"a", ("bp-1", 1))
    assert outbox.forget_keys_before(9e18) == 1
    assert outbox.put("reading", TOPIC, b"a", ("bp-1", 1)) is not None


def test_peek_is_readings_first_then_fifo_and_skips_excluded(outbox: Outbox) -> None:
    t1 = outbox.put("telemetry", BEACON, b"t1")
    r1 = outbox.put("reading", TOPIC, b"r1")
    t2 = outbox.put("telemetry", BEACON, b"t2")
    r2 = outbox.put("reading", TOPIC, b"r2")
    assert [e.id for e in outbox.peek(10)] == [r1, r2, t1, t2]
    assert [e.id for e in outbox.peek(2)] == [r1, r2]
    assert [e.id for e in outbox.peek(2, exclude=[r1, t1])] == [r2, t2]
    assert outbox.peek(0) == []
    entry = outbox.peek(1)[0]
    assert (entry.kind, entry.topic, entry.payload) == ("reading", TOPIC, b"r1")


def test_ack_deletes_only_the_given_entries(outbox: Outbox) -> None:
    ids = [outbox.put("reading", TOPIC, b"%d" % n) for n in range(5)]
    assert outbox.ack([ids[1], ids[3], 999_999]) == 2
    assert payloads(outbox) == [b"0", b"2", b"4"]
    assert outbox.ack([]) == 0
    assert outbox.depth() == {"reading": 3, "telemetry": 0}


def test_entry_ids_are_never_reused(outbox: Outbox) -> None:
    # The uplink maps packet ids to entry ids; a reused id could acknowledge the wrong entry.
    first = outbox.put("reading", TOPIC, b"a")
    assert first is not None
    outbox.ack([first])
    second = outbox.put("reading", TOPIC, b"b")
    assert second is not None and second > first


def test_next_seq_grows_per_device_and_across_reopen(path: Path) -> None:
    with Outbox(path) as box:
        a1, a2, b1 = box.next_seq("bp-1"), box.next_seq("bp-1"), box.next_seq("glu-1")
        assert a2 == a1 + 1
        assert b1 >= a1  # a new device starts from the clock, not from 1
    with Outbox(path) as box:
        assert box.next_seq("bp-1") == a2 + 1
        assert box.next_seq("glu-1") == b1 + 1


def test_a_fresh_outbox_never_reuses_the_sequence_of_a_lost_one(tmp_path: Path) -> None:
    with Outbox(tmp_path / "old.db") as old:
        used = [old.next_seq("bp-1") for _ in range(1000)]
    with Outbox(tmp_path / "replacement.db") as new:
        assert new.next_seq("bp-1") > used[-1]


def test_put_readings_assigns_seq_and_skips_known_records(outbox: Outbox) -> None:
    def build(label: str):  # type: ignore[no-untyped-def]
        return lambda seq: json.dumps({"seq": seq, "label": label}).encode()

    outbox.put("reading", TOPIC, b"old", ("glu-1", 3))
    ids = outbox.put_readings(
        "glu-1",
        TOPIC,
        [(("glu-1", n), build(f"record {n}")) for n in (3, 4, 5)],
        cursor=5,
    )
    assert len(ids) == 2
    stored = [json.loads(p) for p in payloads(outbox)[1:]]
    assert [s["label"] for s in stored] == ["record 4", "record 5"]
    assert stored[1]["seq"] == stored[0]["seq"] + 1  # skipped records use no seq
    assert outbox.get_cursor("glu-1") == 5


def test_cursor_and_records_roll_back_together(outbox: Outbox) -> None:
    outbox.set_cursor("glu-1", 10)
    before = outbox.next_seq("glu-1")

    def failing(seq: int) -> bytes:
        raise ValueError("meter sent garbage")

    records = [(("glu-1", 11), lambda seq: b"11"), (("glu-1", 12), failing)]
    with pytest.raises(ValueError):
        outbox.put_readings("glu-1", TOPIC, records, cursor=12)
    assert outbox.depth()["reading"] == 0
    assert outbox.get_cursor("glu-1") == 10
    assert not outbox.has_key(("glu-1", 11))
    assert outbox.next_seq("glu-1") == before + 1


def test_a_crash_inside_a_batch_keeps_neither_records_nor_cursor(path: Path) -> None:
    run_and_kill(
        f"""
import os, signal
from edge.outbox import Outbox
box = Outbox({str(path)!r})
box.put_readings("glu-1", {TOPIC!r}, [(("glu-1", n), lambda s, n=n: b"%d" % n) for n in (1, 2)],
                 cursor=2)

def crash(seq):
    os.kill(os.getpid(), signal.SIGKILL)

box.put_readings("glu-1", {TOPIC!r}, [(("glu-1", 3), lambda s: b"3"), (("glu-1", 4), crash)],
                 cursor=4)
"""
    )
    with Outbox(path) as box:
        assert payloads(box) == [b"1", b"2"]
        assert box.get_cursor("glu-1") == 2  # the gateway asks the meter for records > 2 again
        assert not box.has_key(("glu-1", 3))


def test_put_commits_the_cursor_with_the_entry(outbox: Outbox) -> None:
    outbox.put("reading", TOPIC, b"r", ("glu-1", 8), cursor=("glu-1", 8))
    assert outbox.get_cursor("glu-1") == 8
    assert outbox.get_cursor("glu-2") is None
    with pytest.raises(OutboxError):
        outbox.put("reading", TOPIC, "not bytes", ("glu-1", 9), cursor=("glu-1", 9))  # type: ignore[arg-type]
    assert outbox.get_cursor("glu-1") == 8


def test_at_the_bound_the_oldest_telemetry_is_dropped_and_counted(path: Path) -> None:
    with Outbox(path, max_rows=4) as box:
        box.put("telemetry", BEACON, b"t1")
        box.put("reading", TOPIC, b"r1")
        box.put("telemetry", BEACON, b"t2")
        box.put("telemetry", BEACON, b"t3")
        box.put("reading", TOPIC, b"r2")  # drops t1
        box.put("telemetry", BEACON, b"t4")  # drops t2
        assert payloads(box) == [b"r1", b"r2", b"t3", b"t4"]
        assert box.dropped_telemetry == 2
    with Outbox(path, max_rows=4) as box:
        assert box.dropped_telemetry == 2  # persisted, for the gateway status


def test_readings_are_never_dropped(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Outbox(path, max_rows=3) as box:
        box.put("telemetry", BEACON, b"t1")
        with caplog.at_level(logging.WARNING, logger="edge.outbox"):
            for n in range(6):
                assert box.put("reading", TOPIC, b"r%d" % n) is not None
        assert payloads(box) == [b"r%d" % n for n in range(6)]
        assert box.depth() == {"reading": 6, "telemetry": 0}
        assert box.dropped_telemetry == 1
        assert "never dropped" in caplog.text
        # New telemetry finds only readings: it is the one dropped, and counted.
        with caplog.at_level(logging.WARNING, logger="edge.outbox"):
            assert box.put("telemetry", BEACON, b"t2") is None
        assert box.dropped_telemetry == 2
        assert "dropped new telemetry" in caplog.text
        assert box.depth() == {"reading": 6, "telemetry": 0}


def test_listeners_hear_about_new_entries_only(outbox: Outbox) -> None:
    calls: list[int] = []

    def listener() -> None:
        calls.append(1)

    outbox.add_listener(listener)
    outbox.put("reading", TOPIC, b"a", ("k", 1))
    outbox.put("reading", TOPIC, b"a", ("k", 1))  # duplicate: nothing new
    outbox.put_readings("bp-1", TOPIC, [(None, lambda seq: b"b")])
    outbox.remove_listener(listener)
    outbox.put("reading", TOPIC, b"c")
    assert len(calls) == 2


def test_bad_input_is_an_edge_error_and_stores_nothing(outbox: Outbox) -> None:
    with pytest.raises(OutboxError, match="unknown entry kind"):
        outbox.put("status", TOPIC, b"x")  # type: ignore[arg-type]
    with pytest.raises(OutboxError, match="natural key"):
        outbox.put("reading", TOPIC, b"x", ("bp-1", object()))
    with pytest.raises(OutboxError, match="non-empty tuple"):
        outbox.put("reading", TOPIC, b"x", ())
    with pytest.raises(EdgeError):
        Outbox(outbox.path, max_rows=0)
    assert outbox.depth() == {"reading": 0, "telemetry": 0}


def test_threads_can_put_while_another_drains(outbox: Outbox) -> None:
    def producer(device: str) -> None:
        for n in range(200):
            outbox.put("reading", TOPIC, f"{device}-{n}".encode(), (device, n))

    threads = [threading.Thread(target=producer, args=(f"bp-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    drained: list[bytes] = []
    while any(t.is_alive() for t in threads) or outbox.depth()["reading"]:
        batch = outbox.peek(50)
        drained.extend(e.payload for e in batch)
        outbox.ack(e.id for e in batch)
    for thread in threads:
        thread.join()
    assert len(drained) == len(set(drained)) == 800
    assert outbox.depth() == {"reading": 0, "telemetry": 0}


def test_a_second_process_sees_the_same_queue(path: Path, outbox: Outbox) -> None:
    with Outbox(path) as other:
        other.put("reading", TOPIC, b"from another process")
    assert payloads(outbox) == [b"from another process"]
    assert outbox.depth()["reading"] == 1


# --- delivery confirmations ------------------------------------------------------------------


def reading_payload(device_id: str, seq: int) -> bytes:
    return json.dumps({"v": 1, "device_id": device_id, "seq": seq}).encode()


def test_a_sent_reading_waits_for_its_confirmation_then_is_due_again(outbox: Outbox) -> None:
    first = outbox.put("reading", TOPIC, reading_payload("bp-1", 1))
    second = outbox.put("reading", TOPIC, reading_payload("bp-1", 2))
    beacon = outbox.put("telemetry", BEACON, b"{}")
    assert outbox.mark_sent([first, second, beacon], base_wait=30, now=1000.0) == 2
    assert outbox.depth() == {"reading": 2, "telemetry": 0}  # telemetry left on the PUBACK
    assert outbox.awaiting_confirmation() == 2
    assert outbox.peek(10, due_by=1029.9) == []
    assert [(e.id, e.attempts) for e in outbox.peek(10, due_by=1030.0)] == [(first, 1), (second, 1)]
    # Unconfirmed again: the wait doubles.
    outbox.mark_sent([first], base_wait=30, now=1030.0)
    assert [e.id for e in outbox.peek(10, due_by=1089.9)] == [second]
    assert [e.id for e in outbox.peek(10, due_by=1090.0)] == [first, second]


def test_confirm_removes_readings_by_their_envelope_key_only(outbox: Outbox) -> None:
    outbox.put("reading", TOPIC, reading_payload("bp-1", 1))
    outbox.put("reading", TOPIC, reading_payload("bp-1", 2))
    outbox.put("reading", TOPIC, reading_payload("glu-1", 1))
    outbox.put("reading", TOPIC, b"not json: never matched by a confirmation")
    outbox.put("telemetry", BEACON, reading_payload("bp-1", 1))
    assert outbox.confirm("bp-1", [1, 7]) == 1
    assert outbox.confirm("bp-1", [1]) == 0  # already gone
    assert sorted(payloads(outbox)) == sorted(
        [
            reading_payload("bp-1", 2),
            reading_payload("glu-1", 1),
            b"not json: never matched by a confirmation",
            reading_payload("bp-1", 1),  # the telemetry entry
        ]
    )
    assert outbox.confirm("glu-1", range(0, 2000)) == 1  # chunked below SQLite's limit


def test_put_readings_records_the_key_it_assigns(outbox: Outbox) -> None:
    built: list[int] = []

    def build(seq: int) -> bytes:
        built.append(seq)
        return b"opaque"

    outbox.put_readings("glu-1", TOPIC, [(None, build), (None, build)])
    assert outbox.confirm("glu-1", built) == 2
    assert outbox.depth()["reading"] == 0


def test_a_version_1_outbox_is_upgraded_with_its_entries(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
            "priority INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, "
            "enqueued_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO entries (kind, priority, topic, payload, enqueued_at) VALUES "
            "('reading', 0, ?, ?, 1.0), ('telemetry', 1, ?, x'7b7d', 1.0)",
            (TOPIC, reading_payload("bp-1", 5), BEACON),
        )
        db.execute("PRAGMA user_version = 1")
    with Outbox(path) as box:
        assert [(e.kind, e.attempts) for e in box.peek(10)] == [("reading", 0), ("telemetry", 0)]
        assert box.confirm("bp-1", [5]) == 1
        assert box.peek(10)[0].kind == "telemetry"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
