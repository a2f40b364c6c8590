"""Simulated phone walks along routes of a wayfinding map, written as walk JSON lines.

The walker follows the route's nodes at a steady pace drawn per walk, drifting sideways within
the corridor (a slowly varying offset that shrinks to zero at doors and corners), pauses at the
start (reading the kiosk) and at the end, waits for and rides the lift, or climbs the stairs.
Every ``interval_s`` the phone reports each beacon it can hear once, with

    RSSI = P₁ + δ_b − 10·n·log₁₀(d) − L_floor·|Δfloors| + N(0, σ²), rounded to whole dBm

where d is the 3-D distance, δ_b a per-beacon calibration error drawn once per walk (the map's
measured power is never exact), and reports below ``sensitivity_dbm`` or lost with probability
``dropout`` are left out. The radio model is written here independently of the gateway's
positioner so that the two cannot share a mistake.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from wayfinding.model import HospitalMap
from wayfinding.routing import Route, Router
from wayfinding.walklog import (
    Advert,
    TruePosition,
    WalkHeader,
    WalkSample,
    header_line,
    sample_line,
)


@dataclass(frozen=True)
class WalkParams:
    """What the simulated phone and walker do (all documented in docs/wayfinding.md)."""

    sigma_db: float = 4.0
    dropout: float = 0.1
    calibration_sigma_db: float = 1.5
    sensitivity_dbm: float = -100.0
    interval_s: float = 0.25
    speed_mps: tuple[float, float] = (1.0, 1.4)
    lateral_sigma_m: float = 0.35
    lateral_max_m: float = 0.9
    start_pause_s: float = 4.0
    end_pause_s: float = 6.0
    lift_wait_s: tuple[float, float] = (5.0, 15.0)
    lift_ride_s: float = 8.0
    stairs_speed_mps: float = 0.6


@dataclass(frozen=True)
class _Pose:
    floor: str
    x: float
    y: float


def _trajectory(
    hospital: HospitalMap, route: Route, params: WalkParams, rng: random.Random
) -> Iterator[tuple[float, _Pose]]:
    """(time, true pose) every interval_s along the route."""
    dt = params.interval_s
    speed = rng.uniform(*params.speed_mps)
    nodes = [hospital.node(n) for n in route.nodes]
    edges = {frozenset((e.a, e.b)): e for e in hospital.edges}
    t = 0.0
    offset = 0.0
    alpha = math.exp(-dt / 3.0)  # lateral drift: an Ornstein-Uhlenbeck walk, 3 s memory
    first = nodes[0]
    for _ in range(int(params.start_pause_s / dt)):
        yield t, _Pose(first.floor, first.x, first.y)
        t += dt
    for a, b in zip(nodes, nodes[1:], strict=False):
        edge = edges[frozenset((a.id, b.id))]
        if edge.vertical:
            if edge.kind == "lift":
                still = rng.uniform(*params.lift_wait_s) + params.lift_ride_s
                flip = still - params.lift_ride_s / 2
            else:
                still = edge.length_m / params.stairs_speed_mps
                flip = still / 2
            for k in range(int(still / dt)):
                floor = a.floor if k * dt < flip else b.floor
                yield t, _Pose(floor, a.x, a.y)
                t += dt
            continue
        length = math.dist(a.point, b.point)
        ux, uy = (b.x - a.x) / length, (b.y - a.y) / length
        s = 0.0
        while s < length:
            offset = alpha * offset + rng.gauss(
                0.0, params.lateral_sigma_m * math.sqrt(1 - alpha**2)
            )
            offset = max(-params.lateral_max_m, min(params.lateral_max_m, offset))
            taper = min(1.0, s / 1.5, (length - s) / 1.5)
            lateral = offset * taper
            yield t, _Pose(a.floor, a.x + ux * s - uy * lateral, a.y + uy * s + ux * lateral)
            t += dt
            s += speed * dt
    last = nodes[-1]
    for _ in range(int(params.end_pause_s / dt)):
        yield t, _Pose(last.floor, last.x, last.y)
        t += dt


def simulate_walk(
    hospital: HospitalMap,
    origin: str,
    destination: str,
    *,
    accessible: bool = False,
    params: WalkParams | None = None,
    seed: int = 0,
) -> tuple[WalkHeader, list[WalkSample]]:
    """A walk from origin to destination (kiosk, place or node ids) with its true positions."""
    params = params or WalkParams()
    rng = random.Random(seed)
    route = Router(hospital).route(origin, destination, accessible=accessible)
    levels = {floor.id: floor.level for floor in hospital.floors.values()}
    phone_z = hospital.radio.phone_height_m
    bias = {b.key: rng.gauss(0.0, params.calibration_sigma_db) for b in hospital.beacons}
    samples = []
    for t, pose in _trajectory(hospital, route, params, rng):
        z = hospital.elevation(pose.floor) + phone_z
        adverts = []
        for beacon in hospital.beacons:
            bz = hospital.elevation(beacon.floor) + beacon.height_m
            d = max(
                0.3, math.sqrt((pose.x - beacon.x) ** 2 + (pose.y - beacon.y) ** 2 + (z - bz) ** 2)
            )
            mean = (
                beacon.measured_power
                + bias[beacon.key]
                - 10.0 * beacon.path_loss_exponent * math.log10(d)
                - hospital.radio.floor_loss_db * abs(levels[pose.floor] - levels[beacon.floor])
            )
            rssi = round(mean + rng.gauss(0.0, params.sigma_db))
            if rssi < params.sensitivity_dbm or rng.random() < params.dropout:
                continue
            adverts.append(Advert(beacon.identity, rssi))
        samples.append(WalkSample(t, tuple(adverts), TruePosition(pose.floor, pose.x, pose.y)))
    header = WalkHeader(
        hospital.id,
        {
            "from": origin,
            "to": destination,
            "accessible": accessible,
            "seed": seed,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()},
        },
    )
    return header, samples


def write_walk(path: Path, header: WalkHeader, samples: list[WalkSample]) -> None:
    """Write a walk as JSON lines (header first)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(header_line(header) + "\n")
        for sample in samples:
            out.write(sample_line(sample) + "\n")
