"""Delivery confirmations (version 1): the cloud tells a gateway which readings it holds.

A broker's PUBACK only says the broker took a message; a broker that loses its queue (Mosquitto
does not restore shared subscriptions after a restart, docs/reliability.md) would lose readings
the gateway already deleted. So the gateway keeps each reading until the ingest worker, once the
reading is durable, confirms it on ``caredge/v1/gw/{gateway_id}/confirm``::

    {"v": 1, "gateway_id": "gw-1",
     "stored": {"bp-1": [101, 102]},
     "rejected": [{"device_id": "bp-9", "seq": 7, "reason": "device 'bp-9' is not registered"}]}

``stored`` lists readings durable in the cloud (new or already stored before); ``rejected``
lists readings the cloud keeps as dead letters with the reason: resending them cannot help.
Both are keyed by the envelope's ``(device_id, seq)``; the gateway drops what it confirms and
re-sends what stays unconfirmed (docs/gateway.md, "Delivery confirmations").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.envelope import MAX_SEQ, PayloadError
from protocol.topics import check_id

CONFIRMATION_VERSION = 1
#: Encoded bytes per message at most: a large batch's confirmation is split, well below the
#: broker's packet limit (``max_packet_size 65536`` in deploy/mosquitto/caredge.conf; Mosquitto
#: disconnects a client that publishes more, and paho would send it again after the reconnect).
MAX_MESSAGE_BYTES = 32 * 1024
MAX_REASON_CHARS = 300
_ENVELOPE_BYTES = 160  # {"v":1,"gateway_id":…,"stored":{},"rejected":[]} with a 64-char id


@dataclass(frozen=True)
class RejectedReading:
    """A reading the cloud dead-lettered, and why."""

    device_id: str
    seq: int
    reason: str


@dataclass
class Confirmation:
    """What one ingest batch tells one gateway."""

    gateway_id: str
    stored: dict[str, list[int]] = field(default_factory=dict)
    rejected: list[RejectedReading] = field(default_factory=list)

    def add_stored(self, device_id: str, seq: int) -> None:
        """Confirm one reading as durable in the cloud."""
        self.stored.setdefault(device_id, []).append(seq)

    @property
    def size(self) -> int:
        """Readings confirmed, stored or rejected."""
        return sum(map(len, self.stored.values())) + len(self.rejected)


def encode_confirmation(confirmation: Confirmation) -> bytes:
    """The JSON payload of a confirmation (reasons cut to ``MAX_REASON_CHARS``)."""
    body: dict[str, Any] = {
        "v": CONFIRMATION_VERSION,
        "gateway_id": confirmation.gateway_id,
        "stored": confirmation.stored,
    }
    if confirmation.rejected:
        body["rejected"] = [_rejected_json(r) for r in confirmation.rejected]
    return _dumps(body)


def split(confirmation: Confirmation, max_bytes: int = MAX_MESSAGE_BYTES) -> list[Confirmation]:
    """The confirmation as messages of at most max_bytes encoded bytes each, items in order."""
    parts: list[Confirmation] = []
    used = max_bytes  # the first item opens the first part

    def fits(size: int) -> bool:
        nonlocal used
        if used + size > max_bytes:
            parts.append(Confirmation(confirmation.gateway_id))
            used = _ENVELOPE_BYTES
            return False
        return True

    for device_id, seqs in confirmation.stored.items():
        key_bytes = len(_dumps(device_id)) + 4  # "bp-1":[…],
        for seq in seqs:
            size = len(str(seq)) + 1
            opening = not parts or device_id not in parts[-1].stored
            if not fits(size + key_bytes * opening):
                opening = True
            parts[-1].add_stored(device_id, seq)
            used += size + key_bytes * opening
    for rejected in confirmation.rejected:
        size = len(_dumps(_rejected_json(rejected))) + 1
        fits(size)
        parts[-1].rejected.append(rejected)
        used += size
    return parts


def decode_confirmation(payload: bytes | str) -> Confirmation:
    """Parse and check a confirmation; PayloadError with the reason if it is not one."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"confirmation is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise PayloadError("confirmation must be a JSON object")
    version = body.get("v")
    if isinstance(version, bool) or version != CONFIRMATION_VERSION:
        raise PayloadError(f"unsupported confirmation version {version!r}")
    gateway_id = body.get("gateway_id")
    try:
        confirmation = Confirmation(check_id(gateway_id, "gateway_id"))
        stored = body.get("stored", {})
        if not isinstance(stored, Mapping):
            raise PayloadError("'stored' must be an object of device_id: [seq, ...]")
        for device_id, seqs in stored.items():
            check_id(device_id, "device_id")
            if not isinstance(seqs, list):
                raise PayloadError(f"'stored.{device_id}' must be a list of seqs")
            for seq in seqs:
                confirmation.add_stored(device_id, _seq(seq))
        rejected = body.get("rejected", [])
        if not isinstance(rejected, list):
            raise PayloadError("'rejected' must be a list")
        confirmation.rejected.extend(_rejected(item) for item in rejected)
    except ValueError as exc:  # TopicError from check_id
        raise PayloadError(str(exc)) from None
    return confirmation


def reading_key_of(payload: bytes) -> tuple[str, int] | None:
    """``(device_id, seq)`` of a reading payload too broken to decode, if it still names them.

    The ingest worker confirms a dead-lettered reading by these, so the gateway stops resending
    it; a payload without them cannot be matched to an outbox entry and is left unconfirmed.
    """
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    device_id, seq = body.get("device_id"), body.get("seq")
    try:
        return check_id(device_id, "device_id"), _seq(seq)
    except ValueError:
        return None


def group_by_gateway(
    items: Iterable[tuple[str, str, int]], rejected: Iterable[tuple[str, str, int, str]] = ()
) -> dict[str, Confirmation]:
    """Confirmations per gateway from ``(gateway, device, seq)`` keys and rejected keys."""
    confirmations: dict[str, Confirmation] = {}
    for gateway_id, device_id, seq in items:
        if gateway_id not in confirmations:
            confirmations[gateway_id] = Confirmation(gateway_id)
        confirmations[gateway_id].add_stored(device_id, seq)
    for gateway_id, device_id, seq, reason in rejected:
        if gateway_id not in confirmations:
            confirmations[gateway_id] = Confirmation(gateway_id)
        confirmations[gateway_id].rejected.append(RejectedReading(device_id, seq, reason))
    return confirmations


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _rejected_json(rejected: RejectedReading) -> dict[str, object]:
    return {
        "device_id": rejected.device_id,
        "seq": rejected.seq,
        "reason": rejected.reason[:MAX_REASON_CHARS],
    }


def _seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise PayloadError(f"seq {value!r} is not an integer in 0..2^63-1")
    return value


def _rejected(item: object) -> RejectedReading:
    if not isinstance(item, dict):
        raise PayloadError("each 'rejected' item must be an object")
    reason = item.get("reason")
    if not isinstance(reason, str):
        raise PayloadError("a 'rejected' item needs a 'reason' string")
    device_id = check_id(item.get("device_id"), "device_id")
    return RejectedReading(device_id, _seq(item.get("seq")), reason)
