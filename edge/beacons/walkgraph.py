"""The map's walkable graph as geometry: points along edges, 3-D positions, snapping.

A position on the graph is (edge index, s metres from the edge's first node). On a lift or
stairs edge the position is over the shaft, its height interpolated between the two floors and
its floor the nearer one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wayfinding.geometry import Point, lerp, project_on_segment
from wayfinding.model import Beacon, HospitalMap


@dataclass(frozen=True)
class GraphEdge:
    """One edge with its end points resolved."""

    index: int
    a: str
    b: str
    a_point: Point
    b_point: Point
    a_floor: str
    b_floor: str
    a_z: float
    b_z: float
    length: float

    @property
    def vertical(self) -> bool:
        return self.a_floor != self.b_floor


@dataclass(frozen=True)
class GraphPosition:
    """A point of the walkable graph: floor, x, y and z (phone height above ground floor)."""

    floor: str
    x: float
    y: float
    z: float


class WalkGraph:
    """Edges, adjacency and geometry of a map's walkable graph."""

    def __init__(self, hospital: HospitalMap) -> None:
        self.map = hospital
        phone = hospital.radio.phone_height_m
        edges = []
        for i, link in enumerate(hospital.edges):
            a, b = hospital.node(link.a), hospital.node(link.b)
            edges.append(
                GraphEdge(
                    index=i,
                    a=a.id,
                    b=b.id,
                    a_point=a.point,
                    b_point=b.point,
                    a_floor=a.floor,
                    b_floor=b.floor,
                    a_z=hospital.elevation(a.floor) + phone,
                    b_z=hospital.elevation(b.floor) + phone,
                    length=link.length_m,
                )
            )
        self.edges: tuple[GraphEdge, ...] = tuple(edges)
        self.incident: dict[str, list[int]] = {node: [] for node in hospital.nodes}
        for edge in self.edges:
            self.incident[edge.a].append(edge.index)
            self.incident[edge.b].append(edge.index)
        self.total_length = sum(edge.length for edge in self.edges)
        # Every edge lies in one place (doors split corridor and room at the wall node), so the
        # place of its midpoint is the place of all its points; lift and stairs: per floor.
        self._places: dict[tuple[int, str], str | None] = {}
        for edge in self.edges:
            for floor in {edge.a_floor, edge.b_floor}:
                x, y = lerp(edge.a_point, edge.b_point, 0.5)
                place = hospital.place_at(floor, x, y)
                self._places[(edge.index, floor)] = place.id if place else None

    def position(self, edge_index: int, s: float) -> GraphPosition:
        edge = self.edges[edge_index]
        t = 0.0 if edge.length == 0 else min(1.0, max(0.0, s / edge.length))
        x, y = lerp(edge.a_point, edge.b_point, t)
        floor = edge.a_floor if t < 0.5 else edge.b_floor
        return GraphPosition(floor, x, y, edge.a_z + (edge.b_z - edge.a_z) * t)

    def place(self, edge_index: int, floor: str) -> str | None:
        """The place a point of this edge (on this floor) is in."""
        return self._places[(edge_index, floor)]

    def snap(self, floor: str, point: Point) -> tuple[Point, float]:
        """The nearest walkable point on that floor's edges, and its distance from ``point``."""
        best: tuple[Point, float] = (point, math.inf)
        for edge in self.edges:
            if edge.vertical or edge.a_floor != floor:
                continue
            t, distance = project_on_segment(point, edge.a_point, edge.b_point)
            if distance < best[1]:
                best = (lerp(edge.a_point, edge.b_point, t), distance)
        return best

    def points_near(
        self, beacon: Beacon, radius_m: float, step_m: float = 0.5
    ) -> list[tuple[int, float]]:
        """Graph positions on the beacon's floor within radius_m of it (horizontally)."""
        found = []
        for edge in self.edges:
            if edge.vertical or edge.a_floor != beacon.floor:
                continue
            steps = max(1, int(edge.length / step_m))
            for k in range(steps + 1):
                s = edge.length * k / steps
                x, y = lerp(edge.a_point, edge.b_point, k / steps)
                if math.hypot(x - beacon.x, y - beacon.y) <= radius_m:
                    found.append((edge.index, s))
        return found
