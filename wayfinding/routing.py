"""Routes on the walkable graph (networkx): shortest by cost, or accessible (no stairs)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from wayfinding.directions import Step, directions
from wayfinding.errors import NoRoute
from wayfinding.geometry import Point
from wayfinding.model import Edge, HospitalMap, Name


@dataclass(frozen=True)
class Leg:
    """The part of a route on one floor, as a polyline (metres, map frame)."""

    floor: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Endpoint:
    """Where a route starts or ends: the id asked for, its name, floor and point."""

    id: str
    name: Name
    floor: str
    point: Point


@dataclass(frozen=True)
class Route:
    """A route: the nodes walked, its length, the per-floor polylines and the directions."""

    origin: Endpoint
    destination: Endpoint
    accessible: bool
    nodes: tuple[str, ...]
    distance_m: float
    legs: tuple[Leg, ...]
    steps: tuple[Step, ...]

    @property
    def floors(self) -> tuple[str, ...]:
        return tuple(leg.floor for leg in self.legs)


class Router:
    """Plans routes on one map; build once per map, the graphs are reused."""

    def __init__(self, hospital: HospitalMap) -> None:
        self.map = hospital
        self._graph: nx.Graph[str] = nx.Graph()
        self._graph.add_nodes_from(hospital.nodes)
        for edge in hospital.edges:
            self._graph.add_edge(edge.a, edge.b, cost=edge.cost_m, edge=edge)
        self._accessible = nx.subgraph_view(
            self._graph, filter_edge=lambda a, b: self._graph[a][b]["edge"].accessible
        )

    def route(self, origin: str, destination: str, *, accessible: bool = False) -> Route:
        """The cheapest route from origin to destination (kiosk, place or node ids).

        Raises UnknownPlace for an id the map lacks and NoRoute when nothing joins them.
        """
        start, _ = self.map.endpoint(origin)
        goal, _ = self.map.endpoint(destination)
        graph = self._accessible if accessible else self._graph
        try:
            path: list[str] = nx.shortest_path(graph, start, goal, weight="cost")
        except nx.NetworkXNoPath:
            raise NoRoute(origin, destination, accessible=accessible) from None
        edges = [self._graph[a][b]["edge"] for a, b in zip(path, path[1:], strict=False)]
        origin_end, destination_end = self._endpoint(origin), self._endpoint(destination)
        facing = self.map.kiosks[origin].facing_deg if origin in self.map.kiosks else None
        return Route(
            origin=origin_end,
            destination=destination_end,
            accessible=accessible,
            nodes=tuple(path),
            distance_m=sum(edge.length_m for edge in edges),
            legs=self._legs(path, edges),
            steps=tuple(directions(self.map, path, edges, destination_end.name, facing_deg=facing)),
        )

    def _endpoint(self, ref: str) -> Endpoint:
        node_id, _ = self.map.endpoint(ref)
        node = self.map.node(node_id)
        if ref in self.map.kiosks:
            name = self.map.kiosks[ref].name
        elif ref in self.map.places:
            name = self.map.places[ref].name
        else:
            place = self.map.place_at(node.floor, node.x, node.y)
            name = place.name if place else Name(en=ref, zh=ref)
        return Endpoint(id=ref, name=name, floor=node.floor, point=node.point)

    def _legs(self, path: list[str], edges: list[Edge]) -> tuple[Leg, ...]:
        legs: list[Leg] = []
        current = [self.map.node(path[0]).point]
        floor = self.map.node(path[0]).floor
        for edge, node_id in zip(edges, path[1:], strict=True):
            node = self.map.node(node_id)
            if edge.vertical:
                legs.append(Leg(floor, tuple(current)))
                current, floor = [node.point], node.floor
            else:
                current.append(node.point)
        legs.append(Leg(floor, tuple(current)))
        return tuple(legs)
