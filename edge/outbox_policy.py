"""What the gateway's outbox keeps, drops and sends first: pure functions, no I/O.

Decisions (the SQLite adapter in :mod:`edge.outbox` and the MQTT adapter in :mod:`edge.uplink`
only carry them out):

* **Two classes of entry.** ``reading`` is clinical data (blood pressure, glucose);
  ``telemetry`` is everything else the gateway sends through the outbox (beacon sightings,
  device events). Gateway status heartbeats do not go through the outbox at all: the next
  heartbeat replaces a lost one.
* **Drain order:** readings before telemetry, FIFO within each class (:data:`PRIORITY`).
  A nurse needs the blood pressure before the beacon trail; within a class the cloud's
  stale-data rules want the oldest first.
* **Bound:** at ``max_rows`` entries the outbox makes room by dropping the *oldest telemetry*
  and counting it (the count is persisted and reported in the gateway status). A new telemetry
  entry that finds only readings is itself dropped and counted. A new reading is **never
  refused and no reading is ever dropped**: when only readings remain the outbox grows past the
  bound (disk is the limit) and the adapter logs a WARNING. Losing a clinical reading silently
  is worse than filling a disk that monitoring can see.
* **What a PUBACK means:** MQTT v5 reason codes below 0x80 are success (0x00 Success and 0x10
  No matching subscribers, which Mosquitto sends when nobody listens yet); 0x80 and above
  (0x87 Not authorized from an ACL, 0x97 Quota exceeded …) mean the broker did *not* accept
  the message, so the entry stays and is retried after :func:`retry_delay` (MQTT v5 §3.4.2.1).
* **What a confirmation means:** a PUBACK only says the broker took the message; a broker that
  loses its queue would lose it. A reading therefore stays until the cloud confirms it holds it
  (:mod:`protocol.confirmations`); after each accepted send it becomes due again after
  :func:`confirmation_wait`, doubling from ``CAREDGE_CONFIRM_TIMEOUT_SECONDS`` up to an hour,
  so an unconfirmed reading is re-sent (the cloud drops the duplicate and confirms it) without
  flooding a cloud that is down. Telemetry leaves on the PUBACK.
* **Sequence numbers** ``seq`` are assigned by the gateway per device and only ever grow. A
  device's first ``seq`` is the wall clock in microseconds (:func:`initial_seq`), so a gateway
  whose outbox file was lost or replaced does not reuse keys the cloud already holds (the cloud
  would drop the new readings as duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EntryKind = Literal["reading", "telemetry"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("reading", "telemetry")

#: Lower drains first; FIFO (by entry id) within one priority.
PRIORITY: dict[EntryKind, int] = {"reading": 0, "telemetry": 1}

#: MQTT v5 reason codes from 0x80 up are failures (MQTT v5 §2.4).
FIRST_FAILURE_REASON = 0x80

MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Admission:
    """What to do with a new entry: accept it, and how many oldest telemetry entries to drop."""

    accept: bool
    drop_oldest_telemetry: int = 0
    over_bound: bool = False


def admit(kind: EntryKind, readings: int, telemetry: int, max_rows: int) -> Admission:
    """Decide on one new entry of ``kind`` given the current depth of each class and the bound."""
    if kind not in PRIORITY:
        raise ValueError(f"unknown outbox entry kind {kind!r}; expected one of {ENTRY_KINDS}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    excess = readings + telemetry + 1 - max_rows
    if excess <= 0:
        return Admission(accept=True)
    drop = min(excess, telemetry)
    if drop == excess:
        return Admission(accept=True, drop_oldest_telemetry=drop)
    if kind == "telemetry":
        # Only readings left (or fewer telemetry than the excess): the newcomer is the
        # telemetry to drop; existing telemetry is kept.
        return Admission(accept=False)
    return Admission(accept=True, drop_oldest_telemetry=drop, over_bound=True)


def drain_order(entries: list[tuple[EntryKind, int]]) -> list[tuple[EntryKind, int]]:
    """Sort ``(kind, entry_id)`` pairs into drain order (the SQL index does the same)."""
    return sorted(entries, key=lambda item: (PRIORITY[item[0]], item[1]))


def puback_delivered(reason_code: int) -> bool:
    """True when a PUBACK reason code means the broker accepted the message."""
    return 0 <= reason_code < FIRST_FAILURE_REASON


def retry_delay(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, …): doubling from base, capped."""
    if attempt < 1:
        return 0.0
    return float(min(cap, base * 2 ** min(attempt - 1, 32)))


MAX_CONFIRMATION_WAIT_S = 3600.0


def confirmation_wait(attempt: int, base: float) -> float:
    """Seconds to wait for the cloud's confirmation after send number ``attempt`` (1, 2, …)."""
    return float(min(MAX_CONFIRMATION_WAIT_S, max(base, 0.0) * 2 ** min(max(attempt, 1) - 1, 32)))


def initial_seq(now_us: int) -> int:
    """The first ``seq`` of a device never seen by this outbox: the clock in microseconds."""
    return max(1, min(now_us, MAX_SEQ // 2))


def next_seq(last_seq: int | None, now_us: int) -> int:
    """The ``seq`` after ``last_seq`` (or the initial one); raise when the space is exhausted."""
    if last_seq is None:
        return initial_seq(now_us)
    if last_seq >= MAX_SEQ:
        raise OverflowError("sequence number space exhausted")
    return last_seq + 1
