"""The map screen's model: floor plans and a route from the wayfinding API, fitted to a widget.

No Kivy here. Map coordinates are metres with x east and y north; Kivy's y also grows upwards,
so a fit is a uniform scale and an offset, never a flip (north is up on the kiosk screen).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from kiosk.printing.documents import Bilingual

Point = tuple[float, float]
Bounds = tuple[float, float, float, float]
Json = Mapping[str, Any]


class PlanFormatError(ValueError):
    """The wayfinding API answered with a map or route the kiosk cannot draw."""


@dataclass(frozen=True)
class PlaceShape:
    """A room, department, corridor, lift or stairs: outline and label position."""

    id: str
    kind: str
    name: Bilingual
    polygon: tuple[Point, ...]
    label_at: Point

    @property
    def bounds(self) -> Bounds:
        """(min x, min y, max x, max y) of the outline."""
        return _bounds(self.polygon)


@dataclass(frozen=True)
class FloorPlan:
    """One floor to draw."""

    id: str
    level: int
    name: Bilingual
    outline: tuple[Point, ...]
    places: tuple[PlaceShape, ...]

    @property
    def bounds(self) -> Bounds:
        """(min x, min y, max x, max y) of the outline."""
        return _bounds(self.outline)


@dataclass(frozen=True)
class RouteStep:
    """One instruction of the route, on the floor where it happens."""

    number: int
    floor: str
    text: Bilingual


@dataclass(frozen=True)
class RoutePlan:
    """A route as the map screen draws it: polylines per floor, its ends and the phone link."""

    origin_floor: str
    origin: Point
    destination_id: str
    destination_floor: str
    destination: Point
    distance_m: float
    floors: tuple[str, ...]
    legs: tuple[tuple[str, tuple[Point, ...]], ...]
    steps: tuple[RouteStep, ...]
    page_url: str

    def leg_points(self, floor: str) -> list[tuple[Point, ...]]:
        """The polylines of the route on floor (usually one)."""
        return [points for leg_floor, points in self.legs if leg_floor == floor]

    def steps_on(self, floor: str) -> list[RouteStep]:
        """The instructions to follow on floor, numbered as in the whole route."""
        return [step for step in self.steps if step.floor == floor]

    def phone_url(self, language: str) -> str:
        """The route page for a phone, in the kiosk's current language."""
        return f"{self.page_url}&{urlencode({'lang': language})}"


@dataclass(frozen=True)
class Fit:
    """Map metres → widget pixels: ``screen = offset + scale * map``."""

    scale: float
    offset: Point

    def apply(self, point: Point) -> Point:
        return (self.offset[0] + self.scale * point[0], self.offset[1] + self.scale * point[1])

    def apply_all(self, points: Iterable[Point]) -> list[float]:
        """Flat [x0, y0, x1, y1, …] as Kivy's Line and Mesh want them."""
        flat: list[float] = []
        for point in points:
            flat.extend(self.apply(point))
        return flat


def fit(bounds: Bounds, pos: Point, size: Point, margin: float = 0.0) -> Fit:
    """The largest uniform scale showing bounds inside the widget at pos/size, centred."""
    x0, y0, x1, y1 = bounds
    width, height = max(size[0] - 2 * margin, 1.0), max(size[1] - 2 * margin, 1.0)
    span_x, span_y = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    scale = min(width / span_x, height / span_y)
    left = pos[0] + (size[0] - span_x * scale) / 2 - x0 * scale
    bottom = pos[1] + (size[1] - span_y * scale) / 2 - y0 * scale
    return Fit(scale, (left, bottom))


def other_floor(route: RoutePlan, current: str, step: int) -> str:
    """The previous (step -1) or next (+1) floor the route crosses, staying at the ends."""
    floors = list(route.floors)
    if current not in floors:
        return floors[0]
    return floors[max(0, min(len(floors) - 1, floors.index(current) + step))]


def crosses_box(polyline: Sequence[float], box: Bounds) -> bool:
    """True when the flat polyline [x0, y0, x1, y1, …] passes through box (x0, y0, x1, y1)."""
    points = list(zip(polyline[::2], polyline[1::2], strict=True))
    return any(_segment_hits(a, b, box) for a, b in zip(points, points[1:], strict=False))


def clear_spot(
    size: Point,
    candidates: Sequence[Point],
    polylines: Sequence[Sequence[float]],
    within: Bounds | None = None,
) -> Point:
    """The first candidate centre where a box of size crosses no polyline and stays within
    bounds (else the first candidate)."""
    w, h = size
    for x, y in candidates:
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        if within is not None and not (
            within[0] <= box[0]
            and box[2] <= within[2]
            and within[1] <= box[1]
            and box[3] <= within[3]
        ):
            continue
        if not any(crosses_box(line, box) for line in polylines):
            return (x, y)
    return candidates[0]


def _segment_hits(a: Point, b: Point, box: Bounds) -> bool:
    """Liang–Barsky clipping: does segment ab meet the axis-aligned box?"""
    x0, y0, x1, y1 = box
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


# --- parsing the API's JSON -------------------------------------------------------------------


def parse_plan(body: Json) -> dict[str, FloorPlan]:
    """``GET /api/v1/wayfinding/map`` → floor plans by floor id."""
    try:
        return {
            floor["id"]: FloorPlan(
                id=str(floor["id"]),
                level=int(floor["level"]),
                name=_name(floor["name"]),
                outline=_polygon(floor["outline"]),
                places=tuple(
                    PlaceShape(
                        id=str(place["id"]),
                        kind=str(place["kind"]),
                        name=_name(place["name"]),
                        polygon=_polygon(place["polygon"]),
                        label_at=_point(place["label_at"]),
                    )
                    for place in floor["places"]
                ),
            )
            for floor in body["floors"]
        }
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFormatError(f"not a wayfinding map: {error!r}") from error


def parse_route(body: Json, base_url: str) -> RoutePlan:
    """``GET /api/v1/wayfinding/route`` → a route; page_url made absolute with base_url."""
    try:
        origin, destination = body["origin"], body["destination"]
        return RoutePlan(
            origin_floor=str(origin["floor"]),
            origin=(float(origin["x"]), float(origin["y"])),
            destination_id=str(destination["id"]),
            destination_floor=str(destination["floor"]),
            destination=(float(destination["x"]), float(destination["y"])),
            distance_m=float(body["distance_m"]),
            floors=tuple(dict.fromkeys(str(f) for f in body["floors"])),
            legs=tuple((str(leg["floor"]), _points(leg["points"])) for leg in body["legs"]),
            steps=tuple(
                RouteStep(number, str(step["floor"]), _name(step["text"]))
                for number, step in enumerate(body["steps"], start=1)
            ),
            page_url=base_url.rstrip("/") + "/" + str(body["page_url"]).lstrip("/"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFormatError(f"not a wayfinding route: {error!r}") from error


def _name(raw: Json) -> Bilingual:
    return Bilingual(str(raw["zh"]), str(raw["en"]))


def _point(raw: Sequence[Any]) -> Point:
    x, y = raw
    return (float(x), float(y))


def _points(raw: Sequence[Any]) -> tuple[Point, ...]:
    return tuple(_point(p) for p in raw)


def _polygon(raw: Sequence[Any]) -> tuple[Point, ...]:
    points = _points(raw)
    if len(points) < 3:
        raise ValueError(f"a polygon needs 3 points, got {len(points)}")
    return points


def _bounds(points: Sequence[Point]) -> Bounds:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)
