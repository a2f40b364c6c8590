"""Replay a walk through the smoother and a solver, and score the fixes against the truth.

Error is the horizontal distance between fix and true position (whatever the floor; floor
accuracy is reported on its own). Room accuracy is the share of fixes whose place (the map's
room, department, corridor, lift or stairs polygon on the fix's floor) is the true place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from edge.beacons.radio import Estimate, Solver
from edge.beacons.smoothing import RssiTracker
from wayfinding.model import HospitalMap
from wayfinding.walklog import TruePosition, WalkSample


@dataclass(frozen=True)
class WalkScore:
    """Figures of one or more walks."""

    fixes: int
    median_error_m: float
    p90_error_m: float
    floor_accuracy: float
    room_accuracy: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "fixes": self.fixes,
            "median_error_m": round(self.median_error_m, 3),
            "p90_error_m": round(self.p90_error_m, 3),
            "floor_accuracy": round(self.floor_accuracy, 4),
            "room_accuracy": round(self.room_accuracy, 4),
        }


def replay(
    samples: Iterable[WalkSample],
    solver: Solver,
    *,
    tracker: RssiTracker | None = None,
    update_interval_s: float = 1.0,
) -> list[tuple[Estimate, TruePosition | None]]:
    """Feed every advert to the smoother; ask the solver for a fix every update_interval_s."""
    tracker = tracker or RssiTracker()
    fixes: list[tuple[Estimate, TruePosition | None]] = []
    next_fix: float | None = None
    for sample in samples:
        for advert in sample.adverts:
            tracker.add(sample.t, advert.identity.key, advert.rssi)
        if next_fix is None:
            next_fix = sample.t
        if sample.t + 1e-9 >= next_fix:
            estimate = solver.solve(sample.t, tracker.current(sample.t))
            if estimate is not None:
                fixes.append((estimate, sample.true))
            next_fix += update_interval_s
    return fixes


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def score(
    hospital: HospitalMap, fixes: Iterable[tuple[Estimate, TruePosition | None]]
) -> WalkScore:
    """Median / p90 error, floor and room accuracy over the fixes that have a true position."""
    errors: list[float] = []
    floors = rooms = 0
    for estimate, true in fixes:
        if true is None:
            continue
        errors.append(math.hypot(estimate.x - true.x, estimate.y - true.y))
        floors += estimate.floor == true.floor
        true_place = hospital.place_at(true.floor, true.x, true.y)
        rooms += estimate.place == (true_place.id if true_place else None)
    n = len(errors)
    return WalkScore(
        fixes=n,
        median_error_m=percentile(errors, 50),
        p90_error_m=percentile(errors, 90),
        floor_accuracy=floors / n if n else math.nan,
        room_accuracy=rooms / n if n else math.nan,
    )
