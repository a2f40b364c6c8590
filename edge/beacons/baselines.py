"""The two baselines the positioner is measured against (bench/wayfinding.py).

- **Nearest beacon**: the position of the beacon with the strongest smoothed RSSI.
- **Unconstrained trilateration**: distances from the path-loss model to the strongest beacons on
  the strongest beacon's floor, solved by linear least squares (each circle minus the first's),
  with no knowledge of walls or corridors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from edge.beacons.pathloss import distance_from_rssi
from edge.beacons.radio import Estimate, SiteRadio
from wayfinding.model import HospitalMap


class NearestBeacon:
    """Where the strongest beacon is."""

    def __init__(self, hospital: HospitalMap) -> None:
        self.radio = SiteRadio(hospital)

    def solve(self, t: float, rssi: Mapping[str, float]) -> Estimate | None:
        heard = self.radio.known(rssi)
        if not heard:
            return None
        beacon = self.radio.beacons[max(heard, key=heard.__getitem__)]
        return self.radio.estimate(t, beacon.floor, beacon.x, beacon.y, math.nan)


class Trilateration:
    """Linear least squares over up to ``max_beacons`` strongest beacons of one floor."""

    def __init__(self, hospital: HospitalMap, *, max_beacons: int = 6) -> None:
        self.radio = SiteRadio(hospital)
        self.max_beacons = max_beacons
        self.phone_z = hospital.radio.phone_height_m

    def solve(self, t: float, rssi: Mapping[str, float]) -> Estimate | None:
        heard = self.radio.known(rssi)
        if not heard:
            return None
        strongest = self.radio.beacons[max(heard, key=heard.__getitem__)]
        floor = strongest.floor
        keys = sorted(
            (k for k in heard if self.radio.beacons[k].floor == floor),
            key=heard.__getitem__,
            reverse=True,
        )[: self.max_beacons]
        circles = []
        for key in keys:
            beacon = self.radio.beacons[key]
            d = distance_from_rssi(heard[key], beacon.measured_power, beacon.path_loss_exponent)
            dz = beacon.height_m - self.phone_z
            circles.append((beacon.x, beacon.y, math.sqrt(max(d * d - dz * dz, 0.01))))
        solution = _least_squares(circles)
        if solution is None:
            return self.radio.estimate(t, floor, strongest.x, strongest.y, math.nan)
        x, y = solution
        residual = math.sqrt(
            sum((math.hypot(x - cx, y - cy) - r) ** 2 for cx, cy, r in circles) / len(circles)
        )
        return self.radio.estimate(t, floor, x, y, residual)


def _least_squares(circles: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Solve 2(xi−x0)·x + 2(yi−y0)·y = r0² − ri² + xi² − x0² + yi² − y0² in least squares."""
    if len(circles) < 3:
        return None
    x0, y0, r0 = circles[0]
    a11 = a12 = a22 = b1 = b2 = 0.0
    for xi, yi, ri in circles[1:]:
        ax, ay = 2 * (xi - x0), 2 * (yi - y0)
        rhs = r0 * r0 - ri * ri + xi * xi - x0 * x0 + yi * yi - y0 * y0
        a11, a12, a22 = a11 + ax * ax, a12 + ax * ay, a22 + ay * ay
        b1, b2 = b1 + ax * rhs, b2 + ay * rhs
    det = a11 * a22 - a12 * a12
    if abs(det) < 1e-6 * max(1.0, a11 * a22):
        return None
    return (a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det
