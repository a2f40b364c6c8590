"""caredge's positioner: a particle filter that lives on the walkable graph.

Each particle is a walker at (edge, s) with a signed speed along the edge. Prediction moves it
by its speed (a random walk on the speed, capped at a brisk walk) and, at a node, on to a random
other edge, so particles only ever stand where people can walk: through doors, along corridors,
in the lift. The update weighs each particle by how well the smoothed RSSI of the strongest
beacons fits the path-loss model from where it stands (a truncated Gaussian, so one beacon in a
deep fade cannot veto the right place). Every update, a few particles are re-seeded near the
strongest beacon so the filter recovers from a lift ride or a bad start without a reset.

The fix is the weighted mean of the particles on the most likely floor (floor detection by
weight), snapped onto the walkable graph; the uncertainty is the weighted RMS distance of those
particles from it. Randomness comes from ``seed``: the same input gives the same output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from edge.beacons.radio import Estimate, SiteRadio
from edge.beacons.walkgraph import GraphPosition, WalkGraph
from wayfinding.model import HospitalMap


@dataclass(frozen=True)
class FilterConfig:
    """Tuning of the particle filter (docs/wayfinding.md explains each)."""

    particles: int = 400
    max_speed_mps: float = 1.8
    speed_noise_mps: float = 0.6
    rssi_sigma_db: float = 4.0
    truncate_sigmas: float = 3.0
    max_beacons: int = 10
    reseed_fraction: float = 0.03
    reseed_radius_m: float = 6.0


class GraphParticleFilter:
    """Positions a phone from smoothed RSSI, constrained to the map's walkable graph."""

    def __init__(
        self, hospital: HospitalMap, *, config: FilterConfig | None = None, seed: int = 0
    ) -> None:
        self.config = config or FilterConfig()
        self.radio = SiteRadio(hospital)
        self.graph = WalkGraph(hospital)
        self.random = random.Random(seed)
        self._near = {
            key: self.graph.points_near(beacon, self.config.reseed_radius_m)
            for key, beacon in self.radio.beacons.items()
        }
        self._edge: list[int] = []
        self._s: list[float] = []
        self._v: list[float] = []
        self._last_t: float | None = None

    # -- particles -----------------------------------------------------------------------------

    def _spawn_uniform(self) -> tuple[int, float]:
        target = self.random.uniform(0.0, self.graph.total_length)
        for edge in self.graph.edges:
            if target <= edge.length:
                return edge.index, target
            target -= edge.length
        last = self.graph.edges[-1]
        return last.index, last.length

    def _spawn_near(self, key: str) -> tuple[int, float]:
        near = self._near.get(key)
        return self.random.choice(near) if near else self._spawn_uniform()

    def _initialise(self) -> None:
        n = self.config.particles
        spawned = [self._spawn_uniform() for _ in range(n)]
        self._edge = [edge for edge, _ in spawned]
        self._s = [s for _, s in spawned]
        self._v = [self.random.uniform(-1.0, 1.0) for _ in range(n)]

    def _move(self, i: int, dt: float) -> None:
        cfg = self.config
        v = self._v[i] + self.random.gauss(0.0, cfg.speed_noise_mps * math.sqrt(dt))
        v = max(-cfg.max_speed_mps, min(cfg.max_speed_mps, v))
        edge = self.graph.edges[self._edge[i]]
        s = self._s[i] + v * dt
        for _ in range(8):  # a few edges per step at most; bounded in case of tiny edges
            if 0.0 <= s <= edge.length:
                break
            node, overflow = (edge.b, s - edge.length) if s > edge.length else (edge.a, -s)
            choices = [j for j in self.graph.incident[node] if j != edge.index]
            if not choices:  # dead end: turn back
                s, v = (edge.length - overflow, -abs(v)) if node == edge.b else (overflow, abs(v))
                continue
            edge = self.graph.edges[self.random.choice(choices)]
            if edge.a == node:
                s, v = overflow, abs(v)
            else:
                s, v = edge.length - overflow, -abs(v)
        self._edge[i], self._s[i], self._v[i] = edge.index, min(max(s, 0.0), edge.length), v

    # -- the filter ----------------------------------------------------------------------------

    def solve(self, t: float, rssi: Mapping[str, float]) -> Estimate | None:
        """Advance to time t with these smoothed RSSI values; None until a beacon is heard."""
        heard = self.radio.known(rssi)
        if not heard:
            return None
        cfg = self.config
        if self._last_t is None:
            self._initialise()
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        keys = sorted(heard, key=heard.__getitem__, reverse=True)[: cfg.max_beacons]
        if dt > 0:
            for i in range(cfg.particles):
                self._move(i, dt)
        for _ in range(int(cfg.particles * cfg.reseed_fraction)):
            slot = self.random.randrange(cfg.particles)
            self._edge[slot], self._s[slot] = self._spawn_near(keys[0])
            self._v[slot] = self.random.uniform(-1.0, 1.0)
        weights, positions = self._weigh(keys, heard)
        fix = self._fix(t, weights, positions)
        self._resample(weights)
        return fix

    def _weigh(
        self, keys: list[str], heard: Mapping[str, float]
    ) -> tuple[list[float], list[GraphPosition]]:
        cfg = self.config
        cap = cfg.truncate_sigmas**2
        inv_var = 1.0 / (cfg.rssi_sigma_db**2)
        log_weights, positions = [], []
        for i in range(cfg.particles):
            p = self.graph.position(self._edge[i], self._s[i])
            positions.append(p)
            total = 0.0
            for key in keys:
                residual2 = (heard[key] - self.radio.expected(key, p.floor, p.x, p.y, p.z)) ** 2
                total -= 0.5 * min(residual2 * inv_var, cap)
            log_weights.append(total)
        top = max(log_weights)
        weights = [math.exp(w - top) for w in log_weights]
        norm = sum(weights)
        return [w / norm for w in weights], positions

    def _fix(self, t: float, weights: list[float], positions: list[GraphPosition]) -> Estimate:
        """Floor, then place, by particle weight; the position is the mean inside that place."""
        by_floor: dict[str, float] = {}
        for w, p in zip(weights, positions, strict=True):
            by_floor[p.floor] = by_floor.get(p.floor, 0.0) + w
        floor = max(by_floor, key=by_floor.__getitem__)
        places = [
            self.graph.place(self._edge[i], floor) if p.floor == floor else None
            for i, p in enumerate(positions)
        ]
        by_place: dict[str | None, float] = {}
        for w, p, place in zip(weights, positions, places, strict=True):
            if p.floor == floor:
                by_place[place] = by_place.get(place, 0.0) + w
        place = max(by_place, key=by_place.__getitem__)
        members = [
            (w, p)
            for w, p, q in zip(weights, positions, places, strict=True)
            if p.floor == floor and q == place
        ]
        total = sum(w for w, _ in members)
        x = sum(w * p.x for w, p in members) / total
        y = sum(w * p.y for w, p in members) / total
        on_floor = [(w, p) for w, p in zip(weights, positions, strict=True) if p.floor == floor]
        spread = sum(w * ((p.x - x) ** 2 + (p.y - y) ** 2) for w, p in on_floor)
        spread /= sum(w for w, _ in on_floor)
        (sx, sy), _ = self.graph.snap(floor, (x, y))
        return Estimate(t, floor, sx, sy, math.sqrt(spread), place)

    def _resample(self, weights: list[float]) -> None:
        """Systematic resampling after every update (a bootstrap filter)."""
        n = self.config.particles
        step = 1.0 / n
        u = self.random.uniform(0.0, step)
        cumulative, j = weights[0], 0
        chosen = []
        for _ in range(n):
            while u > cumulative and j < n - 1:
                j += 1
                cumulative += weights[j]
            chosen.append(j)
            u += step
        self._edge = [self._edge[j] for j in chosen]
        self._s = [self._s[j] for j in chosen]
        self._v = [self._v[j] for j in chosen]
