"""Pure ingest decisions: validation, gateway/device checks, dedupe and ownership."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cloud.devices.bindings import Binding, owner_at
from cloud.ingest.pipeline import Inbound, Undurable, confirmations, decode_batch, triage

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _payload(seq: int, *, gateway: str = "gw1", device: str = "bp1", at: datetime = T0) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "gateway_id": gateway,
            "device_id": device,
            "seq": seq,
            "kind": "blood_pressure",
            "measured_at": at.isoformat(),
            "systolic_mmhg": 120,
            "diastolic_mmhg": 80,
        }
    ).encode()


def _msg(payload: bytes, topic: str = "caredge/v1/gw/gw1/reading") -> Inbound:
    return Inbound(topic=topic, payload=payload)


def test_bad_messages_are_rejected_beside_good_ones() -> None:
    decoded = decode_batch(
        [
            _msg(_payload(1)),
            _msg(b"{not json"),
            _msg(_payload(2), topic="caredge/v1/gw/gw2/reading"),
            _msg(_payload(3), topic="caredge/v1/gw/gw1/status"),
            _msg(_payload(4), topic="junk"),
            _msg(_payload(5)),
        ]
    )
    assert [reading.seq for _, reading in decoded.readings] == [1, 5]
    reasons = [r.reason for r in decoded.rejected]
    assert reasons[0].startswith("not JSON")
    assert "does not match topic gateway 'gw2'" in reasons[1]
    assert "not a reading topic" in reasons[2]
    assert "not a caredge gateway topic" in reasons[3]
    assert decoded.rejected[3].gateway_id is None


def test_duplicates_and_unregistered_devices() -> None:
    decoded = decode_batch(
        [
            _msg(_payload(1)),
            _msg(_payload(1)),
            _msg(_payload(2)),
            _msg(_payload(3)),
            _msg(_payload(9, device="stranger")),
        ]
    )
    result = triage(
        decoded,
        devices_by_gateway={"gw1": {"bp1"}},
        stored_keys={("gw1", "bp1", 2)},
        bindings={"bp1": [Binding("bp1", 7, T0 - timedelta(days=1), None)]},
    )
    assert [(r.seq, owner) for r, owner in result.accepted] == [(1, 7), (3, 7)]
    assert result.duplicates == 2
    assert len(result.rejected) == 1
    assert "'stranger' is not registered to gateway 'gw1'" in result.rejected[0].reason


def test_a_stored_reading_not_known_durable_is_rewritten_for_its_ledger_owner() -> None:
    """Its point may be lost in the time-series store: write it again, as the ledger says."""
    decoded = decode_batch(
        [
            _msg(_payload(1)),  # in the ledger, durable: a duplicate
            _msg(_payload(2)),  # in the ledger, not known durable: rewrite for patient 5
            _msg(_payload(2)),  # repeated in the batch: a duplicate
            _msg(_payload(3, at=T0 + timedelta(minutes=1))),  # same key, other time: conflict
            _msg(_payload(4)),  # new
        ]
    )
    result = triage(
        decoded,
        devices_by_gateway={"gw1": {"bp1"}},
        stored_keys={("gw1", "bp1", 1)},
        bindings={"bp1": [Binding("bp1", 7, T0 - timedelta(days=1), None)]},
        undurable={
            ("gw1", "bp1", 2): Undurable(5, "blood_pressure", T0),
            ("gw1", "bp1", 3): Undurable(5, "blood_pressure", T0),
        },
    )
    assert [(r.seq, owner) for r, owner in result.rewrites] == [(2, 5)]
    assert [(r.seq, owner) for r, owner in result.accepted] == [(4, 7)]
    assert result.duplicates == 3
    assert result.keys == [("gw1", "bp1", 4), ("gw1", "bp1", 2)]


def test_a_pending_key_is_a_duplicate_even_if_the_ledger_has_it_undurable() -> None:
    """A batch being stored by this worker writes that point already."""
    result = triage(
        decode_batch([_msg(_payload(2))]),
        devices_by_gateway={"gw1": {"bp1"}},
        stored_keys={("gw1", "bp1", 2)},
        bindings={},
        undurable={("gw1", "bp1", 2): Undurable(5, "blood_pressure", T0)},
    )
    assert (result.accepted, result.rewrites, result.duplicates) == ([], [], 1)


def test_owner_follows_binding_validity() -> None:
    bindings = [
        Binding("bp1", 1, T0, T0 + timedelta(days=10)),
        Binding("bp1", 2, T0 + timedelta(days=10), None),
    ]
    assert owner_at(bindings, T0 - timedelta(seconds=1)) is None
    assert owner_at(bindings, T0) == 1
    assert owner_at(bindings, T0 + timedelta(days=10) - timedelta(microseconds=1)) == 1
    assert owner_at(bindings, T0 + timedelta(days=10)) == 2
    assert owner_at(bindings, T0 + timedelta(days=900)) == 2


def test_an_oversize_payload_is_rejected_with_its_size_before_parsing() -> None:
    padded = _payload(1)[:-1] + b"," + b" " * 5000 + b'"x": 1}'  # also invalid: never parsed
    at_limit = _payload(2) + b" " * (300 - len(_payload(2)))
    decoded = decode_batch([_msg(padded), _msg(at_limit), _msg(_payload(3))], max_payload_bytes=300)
    assert [reading.seq for _, reading in decoded.readings] == [2, 3]
    [rejected] = decoded.rejected
    assert rejected.reason == f"payload of {len(padded)} bytes exceeds the 300-byte limit"
    assert (rejected.gateway_id, rejected.message.payload) == ("gw1", padded)
    default = decode_batch([_msg(padded)]).rejected[0].reason
    assert default.endswith("exceeds the 4096-byte limit")


def test_confirmations_cover_stored_duplicate_and_dead_lettered_readings() -> None:
    decoded = decode_batch(
        [
            _msg(_payload(1)),
            _msg(_payload(2)),  # stored before: a duplicate
            _msg(_payload(1)),  # repeated in the batch
            _msg(_payload(9, device="stranger")),  # unregistered: a dead letter
            _msg(_payload(4, gateway="gw2")),  # topic gw1, payload gw2: rejected to gw1
            _msg(b"{not json"),  # nothing names it: left unconfirmed
            _msg(_payload(5, gateway="gw3"), topic="caredge/v1/gw/gw3/reading"),
        ]
    )
    result = triage(
        decoded,
        devices_by_gateway={"gw1": {"bp1"}, "gw3": {"bp1"}},
        stored_keys={("gw1", "bp1", 2)},
        bindings={},
    )
    confirmed = confirmations(result)
    assert set(confirmed) == {"gw1", "gw3"}
    assert confirmed["gw1"].stored == {"bp1": [1, 2, 1]}
    assert [(r.device_id, r.seq) for r in confirmed["gw1"].rejected] == [
        ("bp1", 4),
        ("stranger", 9),
    ]
    assert "does not match topic gateway" in confirmed["gw1"].rejected[0].reason
    assert confirmed["gw3"].stored == {"bp1": [5]}
    assert result.duplicates == 2
