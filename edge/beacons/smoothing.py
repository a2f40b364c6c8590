"""Per-beacon RSSI smoothing: a moving median (drops outliers) feeding a 1-D Kalman filter.

The median of the last ``window`` readings removes the fades and spikes typical of 2.4 GHz
indoors; the Kalman filter then follows the slow change of RSSI as the phone walks, with a random
walk of ``process_db2_per_s`` dB²/s and a measurement variance ``measurement_db2``. A beacon not
heard for ``max_age_s`` is forgotten, so a stale value never positions anyone.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Kalman1D:
    """Scalar Kalman filter with a random-walk state."""

    process_per_s: float
    measurement: float
    value: float | None = None
    variance: float = 0.0
    last_t: float = 0.0

    def update(self, t: float, z: float) -> float:
        if self.value is None:
            self.value, self.variance, self.last_t = z, self.measurement, t
            return z
        self.variance += self.process_per_s * max(0.0, t - self.last_t)
        gain = self.variance / (self.variance + self.measurement)
        self.value += gain * (z - self.value)
        self.variance *= 1.0 - gain
        self.last_t = t
        return self.value


@dataclass
class RssiSmoother:
    """Median of the last ``window`` RSSI values, then Kalman: one per beacon."""

    window: int = 3
    process_db2_per_s: float = 40.0
    measurement_db2: float = 10.0
    _recent: deque[float] = field(default_factory=deque, init=False)
    _kalman: Kalman1D = field(init=False)
    last_heard: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.window)
        self._kalman = Kalman1D(self.process_db2_per_s, self.measurement_db2)

    def add(self, t: float, rssi: float) -> float:
        """Take one reading at time t; returns the smoothed RSSI."""
        self._recent.append(rssi)
        self.last_heard = t
        return self._kalman.update(t, statistics.median(self._recent))

    @property
    def value(self) -> float | None:
        return self._kalman.value


@dataclass
class RssiTracker:
    """Smoothed RSSI of every beacon heard recently, by beacon key."""

    window: int = 3
    process_db2_per_s: float = 40.0
    measurement_db2: float = 10.0
    max_age_s: float = 3.0
    _beacons: dict[str, RssiSmoother] = field(default_factory=dict, init=False)

    def add(self, t: float, key: str, rssi: float) -> None:
        smoother = self._beacons.get(key)
        if smoother is None or t - smoother.last_heard > self.max_age_s:
            smoother = RssiSmoother(self.window, self.process_db2_per_s, self.measurement_db2)
            self._beacons[key] = smoother
        smoother.add(t, rssi)

    def current(self, t: float) -> dict[str, float]:
        """Smoothed RSSI of the beacons heard within ``max_age_s`` of t."""
        for key in [k for k, s in self._beacons.items() if t - s.last_heard > self.max_age_s]:
            del self._beacons[key]
        return {key: s.value for key, s in self._beacons.items() if s.value is not None}
