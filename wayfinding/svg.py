"""Floor plans with a route drawn on them, as standalone SVG (no I/O, no external assets).

One panel per floor, stacked top to bottom in route order (all floors when there is no route).
The map frame has y growing north; SVG y grows down, so y is flipped. The kiosk screen and the
phone route page both use this drawing.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from wayfinding.geometry import Point
from wayfinding.model import HospitalMap
from wayfinding.routing import Route

SCALE = 12.0  # pixels per metre
MARGIN = 16.0
TITLE = 28.0
FILL = {
    "department": "#dbeafe",
    "room": "#e0e7ff",
    "lobby": "#fef3c7",
    "corridor": "#f3f4f6",
    "lift": "#dcfce7",
    "stairs": "#fee2e2",
}
_HERE = {"en": "You are here", "zh": "您在这里"}
Projector = Callable[[Point], tuple[float, float]]


def _bounds(hospital: HospitalMap, floor_id: str) -> tuple[float, float, float, float]:
    xs = [p[0] for p in hospital.floor(floor_id).outline]
    ys = [p[1] for p in hospital.floor(floor_id).outline]
    return min(xs), min(ys), max(xs), max(ys)


def render_svg(
    hospital: HospitalMap,
    route: Route | None = None,
    *,
    lang: str = "en",
    show_beacons: bool = False,
) -> str:
    """The floors of ``route`` (or every floor) with places, kiosks, the route and its ends."""
    lang = "zh" if lang == "zh" else "en"
    if route is not None:
        floor_ids = list(dict.fromkeys(route.floors))
    else:
        floor_ids = sorted(hospital.floors, key=lambda f: hospital.floors[f].level)
    panels: list[str] = []
    width = 0.0
    top = 0.0
    for floor_id in floor_ids:
        x0, y0, x1, y1 = _bounds(hospital, floor_id)
        panel_w = (x1 - x0) * SCALE + 2 * MARGIN
        panel_h = (y1 - y0) * SCALE + 2 * MARGIN + TITLE
        width = max(width, panel_w)

        def px(p: Point, x0: float = x0, y1: float = y1, top: float = top) -> tuple[float, float]:
            return (
                round(MARGIN + (p[0] - x0) * SCALE, 1),
                round(top + TITLE + MARGIN + (y1 - p[1]) * SCALE, 1),
            )

        panels.append(_floor_panel(hospital, floor_id, route, lang, show_beacons, px, top))
        top += panel_h
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{top:.0f}" '
        f'viewBox="0 0 {width:.0f} {top:.0f}" font-family="sans-serif" role="img">'
    )
    title = f"<title>{escape(hospital.name.in_lang(lang))}</title>"
    return header + title + "".join(panels) + "</svg>"


def _points(points: tuple[Point, ...], px: Projector) -> str:
    return " ".join(f"{x},{y}" for x, y in (px(p) for p in points))


def _floor_panel(
    hospital: HospitalMap,
    floor_id: str,
    route: Route | None,
    lang: str,
    show_beacons: bool,
    px: Projector,
    top: float,
) -> str:
    floor = hospital.floor(floor_id)
    out = [
        f'<g class="floor" data-floor={quoteattr(floor_id)}>',
        f'<text x="{MARGIN}" y="{top + TITLE - 6}" font-size="18" font-weight="bold">'
        f"{escape(floor.name.in_lang(lang))}</text>",
        f'<polygon points="{_points(floor.outline, px)}" fill="#ffffff" stroke="#111827" '
        'stroke-width="2"/>',
    ]
    for place in hospital.places.values():
        if place.floor != floor_id:
            continue
        out.append(
            f'<polygon points="{_points(place.polygon, px)}" fill="{FILL[place.kind]}" '
            f'stroke="#6b7280" stroke-width="1" data-place={quoteattr(place.id)}/>'
        )
        cx = sum(p[0] for p in place.polygon) / len(place.polygon)
        cy = sum(p[1] for p in place.polygon) / len(place.polygon)
        x, y = px((cx, cy))
        size = 10 if place.kind in ("lift", "stairs") else 13
        out.append(
            f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="middle" fill="#1f2937">'
            f"{escape(place.name.in_lang(lang))}</text>"
        )
    if show_beacons:
        for beacon in hospital.beacons:
            if beacon.floor == floor_id:
                x, y = px((beacon.x, beacon.y))
                out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="#9ca3af"/>')
    for kiosk in hospital.kiosks.values():
        if kiosk.floor == floor_id:
            x, y = px((kiosk.x, kiosk.y))
            out.append(f'<rect x="{x - 5}" y="{y - 5}" width="10" height="10" fill="#6b7280"/>')
    if route is not None:
        for leg in route.legs:
            if leg.floor == floor_id and len(leg.points) > 1:
                out.append(
                    f'<polyline class="route" points="{_points(leg.points, px)}" fill="none" '
                    'stroke="#dc2626" stroke-width="5" stroke-linejoin="round" '
                    'stroke-linecap="round"/>'
                )
        if route.origin.floor == floor_id:
            x, y = px(route.origin.point)
            out.append(f'<circle class="here" cx="{x}" cy="{y}" r="8" fill="#2563eb"/>')
            out.append(
                f'<text x="{x + 12}" y="{y + 5}" font-size="14" font-weight="bold" '
                f'fill="#1d4ed8">{escape(_HERE[lang])}</text>'
            )
        if route.destination.floor == floor_id:
            x, y = px(route.destination.point)
            out.append(
                f'<circle class="destination" cx="{x}" cy="{y}" r="8" fill="#dc2626" '
                'stroke="#ffffff" stroke-width="2"/>'
            )
    out.append("</g>")
    return "".join(out)
