"""MQTT payloads and topics from a hostile gateway: the ingest triage never raises, and every
message is either a reading or a rejection with a reason (what becomes the dead letter)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from cloud.ingest.pipeline import Inbound, decode_batch, triage
from protocol.envelope import PayloadError, decode_reading, encode_reading
from tests.property.conftest import FUZZ, FUZZ_SEED
from tests.property.strategies import JSON_LIKE, dumps, mutated_bytes, mutated_object
from tests.support import readings

VALID = [json.loads(encode_reading(r)) for r in readings("gw1", 2)]  # one BP, one glucose
TOPICS = st.one_of(
    st.just("caredge/v1/gw/gw1/reading"),
    st.sampled_from(["caredge/v1/gw/gw1/status", "caredge/v1/gw//reading", "caredge/v2/gw/a/b",
                     "caredge/v1/gw/+/reading", "caredge/v1/gw/gw2/reading", "", "#", "/"]),
    st.text(max_size=80),
)  # fmt: skip
PAYLOADS = st.one_of(
    st.binary(max_size=512),
    JSON_LIKE.map(dumps),
    st.sampled_from(VALID).flatmap(mutated_object).map(dumps),
    st.sampled_from(VALID).map(dumps).flatmap(mutated_bytes),
)

pytestmark = pytest.mark.filterwarnings("ignore")


@seed(FUZZ_SEED)
@FUZZ
@given(payload=PAYLOADS)
def test_decode_reading_rejects_only_with_a_reason(payload: bytes) -> None:
    try:
        reading = decode_reading(payload)
    except PayloadError as exc:
        assert exc.reason.strip(), "a rejection without a reason"
        return
    assert decode_reading(encode_reading(reading)) == reading  # what passes round-trips


@seed(FUZZ_SEED)
@FUZZ
@given(messages=st.lists(st.tuples(TOPICS, PAYLOADS), min_size=1, max_size=8))
def test_triage_accounts_for_every_message(messages: list[tuple[str, bytes]]) -> None:
    inbound = [Inbound(topic, payload, mid=n) for n, (topic, payload) in enumerate(messages)]
    decoded = decode_batch(inbound)
    assert len(decoded.readings) + len(decoded.rejected) == len(inbound)
    assert all(r.reason.strip() for r in decoded.rejected), decoded.rejected
    devices = {"gw1": {"bp-gw1", "glu-gw1"}}
    result = triage(decoded, devices_by_gateway=devices, stored_keys=set(), bindings={})
    assert len(result.accepted) + result.duplicates + len(result.rejected) == len(inbound)
    assert all(r.reason.strip() for r in result.rejected)
