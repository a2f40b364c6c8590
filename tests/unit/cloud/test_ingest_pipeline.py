"""Pure ingest decisions: validation, gateway/device checks, dedupe and ownership."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cloud.devices.bindings import Binding, owner_at
from cloud.ingest.pipeline import Inbound, decode_batch, triage

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
