"""Plane geometry in metres: polygons, projections onto segments, headings and turns."""

from __future__ import annotations

import math

Point = tuple[float, float]


def point_in_polygon(point: Point, polygon: tuple[Point, ...]) -> bool:
    """Even-odd rule; points on the boundary count as inside."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if _on_segment(point, (x1, y1), (x2, y2)):
            return True
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _on_segment(p: Point, a: Point, b: Point, eps: float = 1e-9) -> bool:
    return project_on_segment(p, a, b)[1] <= eps


def project_on_segment(p: Point, a: Point, b: Point) -> tuple[float, float]:
    """(fraction t in [0, 1] of the nearest point of segment ab to p, distance to it)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return t, math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def heading_deg(a: Point, b: Point) -> float:
    """Direction of travel from a to b: 0° east, 90° north (counter-clockwise)."""
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 360.0


def turn_deg(before: float, after: float) -> float:
    """Signed change of heading in (-180, 180]: positive is a left turn."""
    delta = (after - before) % 360.0
    return delta - 360.0 if delta > 180.0 else delta


def polyline_length(points: list[Point]) -> float:
    return sum(math.dist(points[i], points[i + 1]) for i in range(len(points) - 1))
