"""Path-loss model, RSSI smoothing, the particle filter, the baselines and re-route hysteresis."""

from __future__ import annotations

import math
import os
import random

import pytest

from edge.beacons import (
    GraphParticleFilter,
    Kalman1D,
    NearestBeacon,
    OffRouteMonitor,
    RssiSmoother,
    RssiTracker,
    SiteRadio,
    Trilateration,
    distance_from_rssi,
    fit_path_loss,
    replay,
    rssi_at,
    score,
)
from edge.beacons.radio import Estimate
from firmware_sim.walks import WalkParams, simulate_walk
from wayfinding.mapfile import sample_map
from wayfinding.model import HospitalMap
from wayfinding.routing import Router


def _seed() -> int:
    seed = int(os.environ.get("CAREDGE_TEST_SEED", random.randrange(2**32)))
    print(f"seed {seed} (set CAREDGE_TEST_SEED to replay)")
    return seed


# -- path-loss model ---------------------------------------------------------------------------


def test_log_distance_model() -> None:
    # P1 = -59 at 1 m, n = 2: every decade of distance costs 20 dB.
    assert rssi_at(1.0, -59, 2.0) == pytest.approx(-59)
    assert rssi_at(10.0, -59, 2.0) == pytest.approx(-79)
    assert rssi_at(100.0, -59, 2.0) == pytest.approx(-99)
    # n = 2.5: 10 m → -59 - 25 = -84; the inverse gives the distance back.
    assert distance_from_rssi(-84, -59, 2.5) == pytest.approx(10.0)
    for d in (0.5, 1.0, 3.7, 25.0):
        assert distance_from_rssi(rssi_at(d, -62, 2.2), -62, 2.2) == pytest.approx(d)
    assert rssi_at(0.0, -59, 2.0) == rssi_at(0.3, -59, 2.0)  # near field clamp, no log(0)
    with pytest.raises(ValueError):
        distance_from_rssi(-70, -59, 0.0)


def test_calibration_fit() -> None:
    exact = [(d, rssi_at(d, -61.0, 2.7)) for d in (1, 2, 4, 8, 16)]
    power, exponent = fit_path_loss(exact)
    assert power == pytest.approx(-61.0) and exponent == pytest.approx(2.7)
    seed = _seed()
    rng = random.Random(seed)
    noisy = [(d, rssi_at(d, -61.0, 2.7) + rng.gauss(0, 4)) for d in range(1, 21) for _ in range(20)]
    power, exponent = fit_path_loss(noisy)
    assert power == pytest.approx(-61.0, abs=1.5) and exponent == pytest.approx(2.7, abs=0.2)
    with pytest.raises(ValueError, match="two or more"):
        fit_path_loss([(2.0, -70), (2.0, -71)])
    with pytest.raises(ValueError, match="positive"):
        fit_path_loss([(0.0, -70), (2.0, -71)])


# -- smoothing ---------------------------------------------------------------------------------


def test_median_removes_a_spike_and_kalman_follows_a_step() -> None:
    smoother = RssiSmoother(window=3)
    for i in range(10):
        smoother.add(i * 0.25, -70)
    assert smoother.add(2.5, -40) == pytest.approx(-70)  # one spike: the median ignores it
    for i in range(11, 40):
        value = smoother.add(i * 0.25, -80)
    assert value == pytest.approx(-80, abs=0.5)


def test_kalman_variance_shrinks_and_weights_by_time() -> None:
    kalman = Kalman1D(process_per_s=1.0, measurement=10.0)
    assert kalman.update(0.0, -70) == -70
    slow = Kalman1D(1.0, 10.0)
    slow.update(0.0, -70)
    # A long gap lets the state move further towards a new measurement.
    assert abs(slow.update(10.0, -80) + 80) < abs(kalman.update(0.1, -80) + 80)


def test_tracker_forgets_silent_beacons() -> None:
    tracker = RssiTracker(max_age_s=2.0)
    tracker.add(0.0, "a", -60)
    tracker.add(0.0, "b", -70)
    tracker.add(1.5, "b", -70)
    assert set(tracker.current(1.5)) == {"a", "b"}
    assert set(tracker.current(3.0)) == {"b"}


# -- solvers -----------------------------------------------------------------------------------


def _noiseless(hospital: HospitalMap, floor: str, x: float, y: float) -> dict[str, float]:
    radio = SiteRadio(hospital)
    z = hospital.elevation(floor) + hospital.radio.phone_height_m
    return {key: radio.expected(key, floor, x, y, z) for key in radio.beacons}


@pytest.mark.parametrize(
    ("floor", "x", "y", "place"),
    [
        ("F1", 30.0, 13.0, "F1-corridor"),
        ("F2", 13.0, 20.25, "pediatrics"),
        ("F1", 51.0, 5.75, "emergency"),
    ],
)
def test_particle_filter_noiseless(floor: str, x: float, y: float, place: str) -> None:
    hospital = sample_map()
    rssi = _noiseless(hospital, floor, x, y)
    solver = GraphParticleFilter(hospital, seed=1)
    for t in range(15):
        fix = solver.solve(float(t), rssi)
    assert fix is not None
    assert (fix.floor, fix.place) == (floor, place)
    assert math.hypot(fix.x - x, fix.y - y) < 0.8
    assert 0 <= fix.uncertainty_m < 1.5


def test_trilateration_noiseless_is_exact_and_nearest_is_the_beacon() -> None:
    hospital = sample_map()
    rssi = _noiseless(hospital, "F1", 27.0, 6.0)
    fix = Trilateration(hospital).solve(0.0, rssi)
    assert fix is not None and fix.floor == "F1"
    assert math.hypot(fix.x - 27.0, fix.y - 6.0) < 0.01
    nearest = NearestBeacon(hospital).solve(0.0, rssi)
    assert nearest is not None
    beacon_points = {(b.x, b.y) for b in hospital.beacons if b.floor == "F1"}
    assert (nearest.x, nearest.y) in beacon_points
    assert math.hypot(nearest.x - 27.0, nearest.y - 6.0) < 4.0


def test_solvers_ignore_unknown_beacons_and_silence() -> None:
    hospital = sample_map()
    for solver in (GraphParticleFilter(hospital), NearestBeacon(hospital), Trilateration(hospital)):
        assert solver.solve(0.0, {}) is None
        assert solver.solve(0.0, {"ibeacon:00000000-0000-0000-0000-000000000000:9:9": -50}) is None


def test_noisy_walk_particle_filter_beats_the_baselines() -> None:
    """A seeded σ = 4 dB walk across both floors; the bench runs many more."""
    seed = _seed()
    hospital = sample_map()
    _, samples = simulate_walk(
        hospital, "kiosk-f1", "surgery", params=WalkParams(sigma_db=4.0), seed=seed
    )
    ours = score(hospital, replay(samples, GraphParticleFilter(hospital, seed=seed)))
    nearest = score(hospital, replay(samples, NearestBeacon(hospital)))
    trilateration = score(hospital, replay(samples, Trilateration(hospital)))
    assert ours.fixes == nearest.fixes == trilateration.fixes > 60
    assert ours.median_error_m < 1.5 and ours.p90_error_m < 3.5
    assert ours.floor_accuracy > 0.9 and ours.room_accuracy > 0.85
    assert ours.median_error_m < min(nearest.median_error_m, trilateration.median_error_m)


def test_same_seed_same_fixes() -> None:
    hospital = sample_map()
    _, samples = simulate_walk(hospital, "kiosk-f2", "cardiology", seed=5)
    first = replay(samples, GraphParticleFilter(hospital, seed=9))
    second = replay(samples, GraphParticleFilter(hospital, seed=9))
    assert [f for f, _ in first] == [f for f, _ in second]


# -- re-route hysteresis ---------------------------------------------------------------------


def _fix(t: float, floor: str, x: float, y: float) -> Estimate:
    return Estimate(t, floor, x, y, 1.0, None)


def test_reroute_only_after_hold_time() -> None:
    route = Router(sample_map()).route("kiosk-f1", "pharmacy")
    monitor = OffRouteMonitor.for_route(route, threshold_m=5.0, hold_s=5.0)
    assert monitor.distance(_fix(0, "F1", 20.0, 13.0)) == pytest.approx(0.0)
    assert monitor.distance(_fix(0, "F2", 20.0, 13.0)) == math.inf
    assert not monitor.update(_fix(0, "F1", 20.0, 13.0))
    # 9 m off the corridor (inside Laboratory): noise for a few seconds, then re-route.
    assert not monitor.update(_fix(1, "F1", 28.0, 22.0))
    assert not monitor.update(_fix(3, "F1", 28.0, 22.0))
    assert not monitor.update(_fix(4, "F1", 20.0, 13.5))  # back on the route: counter reset
    assert not monitor.update(_fix(5, "F1", 28.0, 22.0))
    assert not monitor.update(_fix(9, "F1", 28.0, 22.0))
    assert monitor.update(_fix(10, "F1", 28.0, 22.0))
    assert not monitor.update(_fix(11, "F1", 28.0, 22.0))  # counting afresh after re-routing
