"""Delivery confirmations: the wire format, its checks, splitting, and keys of broken payloads."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.confirmations import (
    MAX_MESSAGE_BYTES,
    Confirmation,
    RejectedReading,
    decode_confirmation,
    encode_confirmation,
    group_by_gateway,
    reading_key_of,
    split,
)
from protocol.envelope import MAX_SEQ, PayloadError

ids = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)
seqs = st.integers(0, MAX_SEQ)


def test_encoded_bytes_are_the_documented_format() -> None:
    confirmation = Confirmation("gw-1", {"bp-1": [101, 102]})
    confirmation.rejected.append(RejectedReading("bp-9", 7, "device 'bp-9' is not registered"))
    assert json.loads(encode_confirmation(confirmation)) == {
        "v": 1,
        "gateway_id": "gw-1",
        "stored": {"bp-1": [101, 102]},
        "rejected": [{"device_id": "bp-9", "seq": 7, "reason": "device 'bp-9' is not registered"}],
    }


rejections = st.lists(st.builds(RejectedReading, ids, seqs, st.text(max_size=40)), max_size=5)


@given(ids, st.dictionaries(ids, st.lists(seqs, max_size=20), max_size=5), rejections)
def test_round_trip(
    gateway: str, stored: dict[str, list[int]], rejected: list[RejectedReading]
) -> None:
    original = Confirmation(gateway, {d: s for d, s in stored.items() if s}, rejected)
    assert decode_confirmation(encode_confirmation(original)) == original


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"v": 2, "gateway_id": "gw"}', "unsupported confirmation version 2"),
        (b'{"v": true, "gateway_id": "gw"}', "unsupported confirmation version True"),
        (b'{"v": 1, "gateway_id": "a/b"}', "invalid gateway_id"),
        (b'{"v": 1, "gateway_id": "gw", "stored": []}', "'stored' must be an object"),
        (b'{"v": 1, "gateway_id": "gw", "stored": {"d": 5}}', "must be a list of seqs"),
        (b'{"v": 1, "gateway_id": "gw", "stored": {"d": [-1]}}', "seq -1 is not an integer"),
        (b'{"v": 1, "gateway_id": "gw", "stored": {"d": [1.5]}}', "seq 1.5"),
        (b'{"v": 1, "gateway_id": "gw", "stored": {"d": [true]}}', "seq True"),
        (b'{"v": 1, "gateway_id": "gw", "stored": {"#": [1]}}', "invalid device_id"),
        (b'{"v": 1, "gateway_id": "gw", "rejected": {}}', "'rejected' must be a list"),
        (b'{"v": 1, "gateway_id": "gw", "rejected": [1]}', "must be an object"),
        (b'{"v": 1, "gateway_id": "gw", "rejected": [{"device_id": "d", "seq": 1}]}', "reason"),
    ],
)
def test_malformed_confirmations_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_confirmation(payload)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_decoding_never_fails_other_than_with_a_payload_error(payload: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_confirmation(payload)


def items(parts: list[Confirmation]) -> tuple[list[tuple[str, int]], list[RejectedReading]]:
    stored = [(d, seq) for part in parts for d, seqs in part.stored.items() for seq in seqs]
    return stored, [r for part in parts for r in part.rejected]


@given(
    st.dictionaries(ids, st.lists(seqs, min_size=1, max_size=300), max_size=4),
    st.lists(st.builds(RejectedReading, ids, seqs, st.text(max_size=400)), max_size=60),
    st.integers(3000, 8000),  # above the largest single item (a 300-char reason, escaped)
)
def test_split_keeps_every_item_once_in_order_within_the_byte_bound(
    stored: dict[str, list[int]], rejected: list[RejectedReading], max_bytes: int
) -> None:
    whole = Confirmation("g" * 64, stored, rejected)
    parts = split(whole, max_bytes)
    assert all(len(encode_confirmation(part)) <= max_bytes for part in parts)
    assert items(parts) == items([whole])
    assert all(part.size for part in parts)


def test_a_large_dead_lettered_batch_is_split_below_the_broker_packet_limit() -> None:
    reason = "device 'glu-unregistered-meter' is not registered to gateway 'gw-home-1'"
    whole = Confirmation("gw-home-1")
    whole.rejected.extend(RejectedReading("glu-unregistered", n, reason) for n in range(1000))
    assert len(encode_confirmation(whole)) > 65536
    parts = split(whole)
    assert len(parts) > 2
    assert max(len(encode_confirmation(part)) for part in parts) <= MAX_MESSAGE_BYTES
    assert split(Confirmation("gw")) == []


def test_group_by_gateway() -> None:
    grouped = group_by_gateway(
        [("gw1", "a", 1), ("gw2", "b", 2), ("gw1", "a", 3)], [("gw2", "c", 9, "why")]
    )
    assert grouped["gw1"].stored == {"a": [1, 3]}
    assert grouped["gw2"].stored == {"b": [2]}
    assert grouped["gw2"].rejected == [RejectedReading("c", 9, "why")]


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (b'{"v": 9, "device_id": "bp-1", "seq": 5, "kind": "?"}', ("bp-1", 5)),
        (b'{"device_id": "bp-1", "seq": "5"}', None),
        (b'{"device_id": "a b", "seq": 5}', None),
        (b'{"device_id": "bp-1", "seq": true}', None),
        (b'{"device_id": "bp-1"', None),
        (b"[1, 2]", None),
        (b"[" * 100_000, None),
    ],
)
def test_reading_key_of_broken_payloads(payload: bytes, key: tuple[str, int] | None) -> None:
    assert reading_key_of(payload) == key
