"""Response bodies of the wayfinding endpoints."""

from __future__ import annotations

from pydantic import BaseModel

from wayfinding.model import HospitalMap, Name
from wayfinding.routing import Endpoint, Route


class NameRead(BaseModel):
    en: str
    zh: str

    @classmethod
    def of(cls, name: Name) -> NameRead:
        return cls(en=name.en, zh=name.zh)


class EndpointRead(BaseModel):
    id: str
    name: NameRead
    floor: str
    x: float
    y: float

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointRead:
        x, y = endpoint.point
        return cls(id=endpoint.id, name=NameRead.of(endpoint.name), floor=endpoint.floor, x=x, y=y)


class StepRead(BaseModel):
    """One instruction; ``distance_m`` is walked before it, ``at`` is where it happens."""

    kind: str
    distance_m: float
    turn: str | None
    floor: str
    at: tuple[float, float]
    text: NameRead


class LegRead(BaseModel):
    """The route on one floor, as a polyline in map metres (x east, y north)."""

    floor: str
    points: list[tuple[float, float]]


class RouteRead(BaseModel):
    origin: EndpointRead
    destination: EndpointRead
    accessible: bool
    distance_m: float
    floors: list[str]
    legs: list[LegRead]
    steps: list[StepRead]
    svg_url: str
    page_url: str

    @classmethod
    def of(cls, route: Route, *, svg_url: str, page_url: str) -> RouteRead:
        return cls(
            origin=EndpointRead.of(route.origin),
            destination=EndpointRead.of(route.destination),
            accessible=route.accessible,
            distance_m=round(route.distance_m, 1),
            floors=list(route.floors),
            legs=[LegRead(floor=leg.floor, points=list(leg.points)) for leg in route.legs],
            steps=[
                StepRead(
                    kind=step.kind,
                    distance_m=round(step.distance_m, 1),
                    turn=step.turn,
                    floor=step.floor,
                    at=step.at,
                    text=NameRead.of(step.text),
                )
                for step in route.steps
            ],
            svg_url=svg_url,
            page_url=page_url,
        )


class PlaceRead(BaseModel):
    """A destination or starting point: departments, lobbies, kiosks."""

    id: str
    kind: str
    floor: str
    name: NameRead


class FloorRead(BaseModel):
    id: str
    level: int
    name: NameRead


class PlacesRead(BaseModel):
    map_id: str
    name: NameRead
    floors: list[FloorRead]
    places: list[PlaceRead]

    @classmethod
    def of(cls, hospital: HospitalMap) -> PlacesRead:
        places = [
            PlaceRead(id=p.id, kind=p.kind, floor=p.floor, name=NameRead.of(p.name))
            for p in hospital.places.values()
            if p.kind in ("department", "room", "lobby")
        ] + [
            PlaceRead(id=k.id, kind="kiosk", floor=k.floor, name=NameRead.of(k.name))
            for k in hospital.kiosks.values()
        ]
        return cls(
            map_id=hospital.id,
            name=NameRead.of(hospital.name),
            floors=[
                FloorRead(id=f.id, level=f.level, name=NameRead.of(f.name))
                for f in sorted(hospital.floors.values(), key=lambda f: f.level)
            ],
            places=places,
        )


class PlaceShapeRead(BaseModel):
    """A place as drawn: its outline and where its name goes (the vertex mean)."""

    id: str
    kind: str
    name: NameRead
    polygon: list[tuple[float, float]]
    label_at: tuple[float, float]


class KioskRead(BaseModel):
    id: str
    name: NameRead
    x: float
    y: float


class FloorPlanRead(BaseModel):
    """One floor to draw: outline, places, walkway segments (graph edges) and kiosks."""

    id: str
    level: int
    name: NameRead
    outline: list[tuple[float, float]]
    places: list[PlaceShapeRead]
    walkways: list[tuple[tuple[float, float], tuple[float, float]]]
    kiosks: list[KioskRead]


class MapRead(BaseModel):
    """The floor plans of the map in metres (x east, y north), lowest floor first."""

    map_id: str
    name: NameRead
    floors: list[FloorPlanRead]

    @classmethod
    def of(cls, hospital: HospitalMap) -> MapRead:
        floors = sorted(hospital.floors.values(), key=lambda f: f.level)
        return cls(
            map_id=hospital.id,
            name=NameRead.of(hospital.name),
            floors=[
                FloorPlanRead(
                    id=floor.id,
                    level=floor.level,
                    name=NameRead.of(floor.name),
                    outline=list(floor.outline),
                    places=[
                        PlaceShapeRead(
                            id=p.id,
                            kind=p.kind,
                            name=NameRead.of(p.name),
                            polygon=list(p.polygon),
                            label_at=(
                                round(sum(x for x, _ in p.polygon) / len(p.polygon), 2),
                                round(sum(y for _, y in p.polygon) / len(p.polygon), 2),
                            ),
                        )
                        for p in hospital.places.values()
                        if p.floor == floor.id
                    ],
                    walkways=[
                        (hospital.node(e.a).point, hospital.node(e.b).point)
                        for e in hospital.edges
                        if not e.vertical and hospital.node(e.a).floor == floor.id
                    ],
                    kiosks=[
                        KioskRead(id=k.id, name=NameRead.of(k.name), x=k.x, y=k.y)
                        for k in hospital.kiosks.values()
                        if k.floor == floor.id
                    ],
                )
                for floor in floors
            ],
        )
