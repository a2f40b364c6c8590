"""Simulated walks (firmware_sim.walks) and the walk JSON-lines format."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from firmware_sim.beacons import EddystoneUidBeacon, IBeacon, beacons_from_map
from firmware_sim.walks import WalkParams, simulate_walk, write_walk
from wayfinding.errors import WalkFormatError
from wayfinding.mapfile import sample_map
from wayfinding.walklog import read_walk


def test_walk_follows_the_route_and_round_trips(tmp_path: Path) -> None:
    hospital = sample_map()
    header, samples = simulate_walk(hospital, "kiosk-f1", "surgery", accessible=True, seed=4)
    assert header.params["from"] == "kiosk-f1" and header.params["sigma_db"] == 4.0
    assert samples[0].true is not None and samples[-1].true is not None
    assert (samples[0].true.x, samples[0].true.y) == (9.0, 3.0)
    assert (samples[-1].true.floor, samples[-1].true.x, samples[-1].true.y) == ("F2", 31.0, 20.25)
    assert {s.true.floor for s in samples if s.true} == {"F1", "F2"}
    times = [s.t for s in samples]
    assert times == sorted(times) and times[1] - times[0] == pytest.approx(0.25)
    # The walker drifts sideways but stays inside some place (never through a wall).
    assert all(hospital.place_at(s.true.floor, s.true.x, s.true.y) for s in samples if s.true)
    path = tmp_path / "walk.jsonl"
    write_walk(path, header, samples)
    with path.open() as lines:
        header2, samples2 = read_walk(lines)
    assert header2 == header
    assert [a.identity.key for a in samples2[10].adverts] == [
        a.identity.key for a in samples[10].adverts
    ]
    assert all(isinstance(a.rssi, int) for s in samples for a in s.adverts)


def test_rssi_noise_and_dropouts_follow_the_parameters() -> None:
    hospital = sample_map()
    beacon = hospital.beacons[0]  # F1 corridor beacon at (3.75, 13)
    quiet = WalkParams(sigma_db=0.0, dropout=0.0, calibration_sigma_db=0.0, lateral_sigma_m=0.0)
    noisy = WalkParams(sigma_db=4.0, dropout=0.3, calibration_sigma_db=0.0, lateral_sigma_m=0.0)
    results = {}
    for name, params in (("quiet", quiet), ("noisy", noisy)):
        _, samples = simulate_walk(hospital, "F1-lobby", "F1-lobby", params=params, seed=2)
        heard = [a.rssi for s in samples for a in s.adverts if a.identity == beacon.identity]
        results[name] = (heard, len(samples))
    quiet_rssi, n = results["quiet"]
    # Lobby node (9, 5.75): d = √(5.25² + 7.25² + 1.3²) → -59 - 22·log10(d) = -78.3 → -78.
    d = math.sqrt(5.25**2 + 7.25**2 + 1.3**2)
    assert set(quiet_rssi) == {round(-59 - 22 * math.log10(d))}
    assert len(quiet_rssi) == n
    noisy_rssi, n = results["noisy"]
    assert 0.6 * n < len(noisy_rssi) < 0.8 * n
    assert statistics.pstdev(noisy_rssi) == pytest.approx(4.0, abs=1.0)


def test_advertisers_placed_from_the_map() -> None:
    hospital = sample_map()
    advertisers = beacons_from_map(hospital)
    assert len(advertisers) == len(hospital.beacons)
    assert {type(a) for a in advertisers} == {IBeacon, EddystoneUidBeacon}
    assert all(len(a.advertising_data()) <= 31 for a in advertisers)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "no header"),
        (['{"format": "other", "version": 1}'], "header"),
        (
            [json.dumps({"format": "caredge.wayfinding.walk", "version": 1}), "{nope"],
            "line 2: not JSON",
        ),
        (
            [
                json.dumps({"format": "caredge.wayfinding.walk", "version": 1}),
                '{"t": 1, "adverts": []}',
                '{"t": 0.5, "adverts": []}',
            ],
            "backwards",
        ),
        (
            [
                json.dumps({"format": "caredge.wayfinding.walk", "version": 1}),
                '{"t": 0, "adverts": [{"type": "altbeacon", "rssi": -70}]}',
            ],
            "unknown advert type",
        ),
        (
            [
                json.dumps({"format": "caredge.wayfinding.walk", "version": 1}),
                '{"t": 0, "adverts": [{"type": "ibeacon", "uuid": "zz", "major": 1, '
                '"minor": 1, "rssi": -70}]}',
            ],
            "bad advert identity",
        ),
        (
            [
                json.dumps({"format": "caredge.wayfinding.walk", "version": 1}),
                '{"t": 0, "adverts": [], "true": {"floor": "F1", "x": "a", "y": 0}}',
            ],
            "x must be a finite number",
        ),
    ],
)
def test_bad_walk_files(lines: list[str], message: str) -> None:
    with pytest.raises(WalkFormatError, match=message):
        read_walk(lines)
