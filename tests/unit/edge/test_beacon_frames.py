"""iBeacon / Eddystone-UID decoding: spec vectors, strict refusal, counted drops, fuzz."""

from __future__ import annotations

import os
import random

import pytest

from edge.beacons import AdvertDecoder, BeaconFormatError, NotABeaconFrame
from edge.beacons.frames import parse_eddystone, parse_ibeacon
from edge.gatt.const import uuid16_to_str
from firmware_sim.beacons import EddystoneUidBeacon, IBeacon
from tests.vectors.beacons import (
    EDDYSTONE_MALFORMED,
    EDDYSTONE_OTHER,
    EDDYSTONES,
    IBEACON_MALFORMED,
    IBEACON_OTHER,
    IBEACONS,
    BadFrame,
    EddystoneVector,
    IBeaconVector,
)

EDDYSTONE = uuid16_to_str(0xFEAA)


@pytest.mark.parametrize("vector", IBEACONS, ids=lambda v: v.name)
def test_ibeacon_vectors(vector: IBeaconVector) -> None:
    frame = parse_ibeacon(vector.frame)
    assert frame.identity.uuid == vector.uuid
    assert (frame.identity.major, frame.identity.minor) == (vector.major, vector.minor)
    assert frame.measured_power == vector.measured_power
    assert frame.identity.key == f"ibeacon:{vector.uuid}:{vector.major}:{vector.minor}"


@pytest.mark.parametrize("vector", IBEACON_MALFORMED, ids=lambda v: v.name)
def test_ibeacon_malformed(vector: BadFrame) -> None:
    with pytest.raises(BeaconFormatError, match=vector.reason) as info:
        parse_ibeacon(vector.frame)
    assert info.value.frame == vector.frame


@pytest.mark.parametrize("vector", IBEACON_OTHER, ids=lambda v: v.name)
def test_other_apple_payloads_are_not_beacons(vector: BadFrame) -> None:
    with pytest.raises(NotABeaconFrame, match=vector.reason):
        parse_ibeacon(vector.frame)


@pytest.mark.parametrize("vector", EDDYSTONES, ids=lambda v: v.name)
def test_eddystone_vectors(vector: EddystoneVector) -> None:
    frame = parse_eddystone(vector.frame)
    assert frame.identity.namespace == vector.namespace
    assert frame.identity.instance == vector.instance
    assert frame.tx_power_0m == vector.tx_power_0m
    assert frame.measured_power == vector.measured_power


@pytest.mark.parametrize("vector", EDDYSTONE_MALFORMED, ids=lambda v: v.name)
def test_eddystone_malformed(vector: BadFrame) -> None:
    with pytest.raises(BeaconFormatError, match=vector.reason):
        parse_eddystone(vector.frame)


@pytest.mark.parametrize("vector", EDDYSTONE_OTHER, ids=lambda v: v.name)
def test_other_eddystone_frames_are_skipped(vector: BadFrame) -> None:
    with pytest.raises(NotABeaconFrame, match=vector.reason):
        parse_eddystone(vector.frame)


def test_decoder_counts_and_never_raises() -> None:
    decoder = AdvertDecoder()
    good_ibeacon = IBEACONS[0].frame
    good_eddystone = EDDYSTONES[0].frame
    assert len(decoder.decode({0x004C: good_ibeacon}, {})) == 1
    # bleak hands service data keyed by 128-bit UUID strings (any case).
    assert len(decoder.decode({}, {EDDYSTONE.upper(): good_eddystone})) == 1
    assert decoder.decode({0x004C: IBEACON_MALFORMED[1].frame}, {}) == []
    assert decoder.decode({}, {EDDYSTONE: EDDYSTONE_MALFORMED[1].frame}) == []
    assert (
        decoder.decode({0x004C: IBEACON_OTHER[0].frame}, {EDDYSTONE: EDDYSTONE_OTHER[0].frame})
        == []
    )
    # A meter's advertisement: other companies and services are not looked at.
    assert decoder.decode({0x0059: b"\x01\x02"}, {uuid16_to_str(0x1810): b""}) == []
    assert (decoder.counters.decoded, decoder.counters.other, decoder.counters.malformed) == (
        2,
        2,
        2,
    )
    assert decoder.last_error is not None and "17 bytes" in str(decoder.last_error)


def test_simulator_encoding_decodes() -> None:
    """firmware_sim encodes with its own code; the gateway's decoder must agree with it."""
    ibeacon = IBeacon(IBEACONS[1].uuid, 0x1234, 0xABCD, measured_power=-65)
    assert ibeacon.manufacturer_data() == IBEACONS[1].frame
    eddystone = EddystoneUidBeacon(EDDYSTONES[1].namespace, EDDYSTONES[1].instance, -59)
    frame = parse_eddystone(eddystone.service_data())
    assert frame.measured_power == -59
    assert eddystone.service_data()[:18] == EDDYSTONES[1].frame


def test_fuzz_never_crashes() -> None:
    seed = int(os.environ.get("CAREDGE_FUZZ_SEED", random.randrange(2**32)))
    print(f"fuzz seed {seed} (set CAREDGE_FUZZ_SEED to replay)")
    rng = random.Random(seed)
    decoder = AdvertDecoder()
    seeds = [v.frame for v in IBEACONS] + [v.frame for v in EDDYSTONES]
    for _ in range(3000):
        frame = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(4)):
            op = rng.randrange(3)
            if op == 0 and frame:
                del frame[rng.randrange(len(frame))]
            elif op == 1:
                frame.insert(rng.randrange(len(frame) + 1), rng.randrange(256))
            elif frame:
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        decoder.decode({0x004C: bytes(frame)}, {EDDYSTONE: bytes(frame)})
    counters = decoder.counters
    assert counters.decoded + counters.other + counters.malformed == 6000
    assert counters.malformed > 0 and counters.decoded > 0
