"""BLE advertisements from anything in radio range: the beacon decoder never raises; frames of
another kind are counted as ``other``, broken ones as ``malformed`` with a reason."""

from __future__ import annotations

import struct
import uuid

from hypothesis import given, seed
from hypothesis import strategies as st

from edge.beacons.decoder import AdvertDecoder
from edge.beacons.frames import (
    APPLE_COMPANY_ID,
    BeaconFormatError,
    NotABeaconFrame,
    parse_eddystone,
    parse_ibeacon,
)
from tests.property.conftest import FUZZ, FUZZ_SEED
from tests.property.strategies import mutated_bytes

EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
IBEACON = b"\x02\x15" + uuid.UUID(int=7).bytes + struct.pack(">HHb", 1, 2, -59)
EDDYSTONE_UID = b"\x00\xee" + bytes(range(10)) + bytes(range(6)) + b"\x00\x00"
APPLE = st.one_of(st.binary(max_size=40), mutated_bytes(IBEACON))
SERVICE = st.one_of(st.binary(max_size=40), mutated_bytes(EDDYSTONE_UID))


def test_the_valid_frames_decode() -> None:
    frames = AdvertDecoder().decode({APPLE_COMPANY_ID: IBEACON}, {EDDYSTONE: EDDYSTONE_UID})
    assert len(frames) == 2


@seed(FUZZ_SEED)
@FUZZ
@given(
    manufacturer=st.dictionaries(st.sampled_from([APPLE_COMPANY_ID, 0x0059, 0xFFFF]), APPLE),
    service=st.dictionaries(st.sampled_from([EDDYSTONE, EDDYSTONE.upper(), "180d"]), SERVICE),
)
def test_decoder_never_raises_and_counts_everything(
    manufacturer: dict[int, bytes], service: dict[str, bytes]
) -> None:
    decoder = AdvertDecoder()
    frames = decoder.decode(manufacturer, service)
    counters = decoder.counters
    candidates = (APPLE_COMPANY_ID in manufacturer) + sum(
        key.lower() == EDDYSTONE for key in service
    )
    assert counters.decoded + counters.other + counters.malformed == candidates
    assert len(frames) == counters.decoded
    if counters.malformed:
        assert decoder.last_error is not None and decoder.last_error.reason.strip()


@seed(FUZZ_SEED)
@FUZZ
@given(value=st.one_of(APPLE, SERVICE))
def test_frame_parsers_raise_only_their_two_errors(value: bytes) -> None:
    for parse in (parse_ibeacon, parse_eddystone):
        try:
            parse(value)
        except NotABeaconFrame:
            pass
        except BeaconFormatError as exc:
            assert exc.reason.strip()
