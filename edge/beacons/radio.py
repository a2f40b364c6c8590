"""The positioners' radio model of a mapped site: which beacon a key is, and the RSSI expected
from it at a 3-D point (log-distance model plus a loss per floor crossed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from edge.beacons.pathloss import rssi_at
from wayfinding.model import Beacon, HospitalMap


@dataclass(frozen=True)
class Estimate:
    """A position fix: floor, x/y in the map frame, 1-σ uncertainty radius and the place."""

    t: float
    floor: str
    x: float
    y: float
    uncertainty_m: float
    place: str | None


class Solver(Protocol):
    """Anything that turns smoothed RSSI by beacon key into a fix (or None if it cannot)."""

    def solve(self, t: float, rssi: Mapping[str, float]) -> Estimate | None: ...


class SiteRadio:
    """Beacons of a map by key, with their 3-D positions and expected RSSI."""

    def __init__(self, hospital: HospitalMap) -> None:
        self.map = hospital
        self.beacons: dict[str, Beacon] = hospital.beacon_by_key()
        self.levels = {floor.id: floor.level for floor in hospital.floors.values()}
        self.z = {
            beacon.key: hospital.elevation(beacon.floor) + beacon.height_m
            for beacon in hospital.beacons
        }
        self.floor_loss_db = hospital.radio.floor_loss_db

    def known(self, rssi: Mapping[str, float]) -> dict[str, float]:
        """Only the readings of beacons on the map (others belong to someone else)."""
        return {key: value for key, value in rssi.items() if key in self.beacons}

    def expected(self, key: str, floor: str, x: float, y: float, z: float) -> float:
        beacon = self.beacons[key]
        distance = math.sqrt((x - beacon.x) ** 2 + (y - beacon.y) ** 2 + (z - self.z[key]) ** 2)
        crossed = abs(self.levels[floor] - self.levels[beacon.floor])
        return (
            rssi_at(distance, beacon.measured_power, beacon.path_loss_exponent)
            - self.floor_loss_db * crossed
        )

    def estimate(self, t: float, floor: str, x: float, y: float, uncertainty_m: float) -> Estimate:
        place = self.map.place_at(floor, x, y)
        return Estimate(t, floor, x, y, uncertainty_m, place.id if place else None)
