"""The log-distance path-loss model and its calibration.

RSSI(d) = P₁ − 10·n·log₁₀(d / 1 m) − L_floor·|Δfloors|, with P₁ the measured power (RSSI at 1 m)
and n the path-loss exponent (≈ 2 in free space, 2–4 indoors). Distances are 3-D: a beacon on the
ceiling is never nearer than the ceiling height minus the phone's. :func:`fit_path_loss` fits P₁
and n to (distance, RSSI) pairs by least squares, which is how a site is calibrated
(docs/wayfinding.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

MIN_DISTANCE_M = 0.3


def rssi_at(distance_m: float, measured_power: float, exponent: float) -> float:
    """Expected RSSI at distance_m (clamped to MIN_DISTANCE_M, the near field)."""
    return measured_power - 10.0 * exponent * math.log10(max(distance_m, MIN_DISTANCE_M))


def distance_from_rssi(rssi: float, measured_power: float, exponent: float) -> float:
    """The distance the model gives for an RSSI: d = 10^((P₁ − RSSI) / (10·n))."""
    if exponent <= 0:
        raise ValueError("the path-loss exponent must be positive")
    return 10.0 ** ((measured_power - rssi) / (10.0 * exponent))


def fit_path_loss(samples: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """(measured power P₁, exponent n) fitting RSSI = P₁ − 10·n·log₁₀(d) to (d, RSSI) pairs."""
    xs, ys = [], []
    for distance, rssi in samples:
        if distance <= 0:
            raise ValueError(f"distance must be positive, got {distance}")
        xs.append(-10.0 * math.log10(distance))
        ys.append(rssi)
    if len(xs) < 2 or max(xs) == min(xs):
        raise ValueError("need readings at two or more different distances")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - slope * mx, slope
