"""Public wayfinding endpoints: places, floor plans, a route as JSON, SVG and a phone page.

No authentication: the map, routes and directions hold no patient data, and the route page is
opened on a patient's own phone from the kiosk's QR code, where there is no caredge login.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SettingsDep
from cloud.wayfinding.schemas import MapRead, PlacesRead, RouteRead
from cloud.wayfinding.service import Wayfinder, wayfinder_for
from wayfinding.errors import NoRoute, UnknownPlace
from wayfinding.routing import Route
from wayfinding.svg import render_svg

PREFIX = "/api/v1/wayfinding"
router = APIRouter(prefix=PREFIX, tags=["wayfinding"])


def get_wayfinder(settings: SettingsDep) -> Wayfinder:
    return wayfinder_for(settings)


WayfinderDep = Annotated[Wayfinder, Depends(get_wayfinder)]
FromQuery = Annotated[
    str, Query(alias="from", min_length=1, description="Kiosk id or place id to start from")
]
ToQuery = Annotated[str, Query(alias="to", min_length=1, description="Department or place id")]
AccessibleQuery = Annotated[bool, Query(description="Avoid stairs (lift only)")]
LangQuery = Annotated[Literal["en", "zh"], Query(description="Language of labels and steps")]


def _plan(wayfinder: Wayfinder, origin: str, destination: str, accessible: bool) -> Route:
    for which, ref in (("from", origin), ("to", destination)):
        try:
            wayfinder.map.endpoint(ref)
        except UnknownPlace as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{which}: {exc}") from exc
    try:
        return wayfinder.router.route(origin, destination, accessible=accessible)
    except NoRoute as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def _query(origin: str, destination: str, accessible: bool, lang: str | None = None) -> str:
    params = {"from": origin, "to": destination, "accessible": str(accessible).lower()}
    if lang:
        params["lang"] = lang
    return urlencode(params)


@router.get("/places", response_model=PlacesRead)
def places(wayfinder: WayfinderDep) -> PlacesRead:
    """Floors, and the places and kiosks a route can start or end at."""
    return PlacesRead.of(wayfinder.map)


@router.get("/map", response_model=MapRead)
def floor_plans(wayfinder: WayfinderDep) -> MapRead:
    """Floor outlines, places with labels, walkways and kiosks, to draw the map (kiosk screen)."""
    return MapRead.of(wayfinder.map)


@router.get("/route", response_model=RouteRead)
def route(
    wayfinder: WayfinderDep,
    origin: FromQuery,
    destination: ToQuery,
    accessible: AccessibleQuery = False,
) -> RouteRead:
    """Distance, directions in zh and en, polylines per floor, and the SVG and page URLs."""
    planned = _plan(wayfinder, origin, destination, accessible)
    query = _query(origin, destination, accessible)
    return RouteRead.of(
        planned, svg_url=f"{PREFIX}/route.svg?{query}", page_url=f"{PREFIX}/route.html?{query}"
    )


@router.get("/route.svg", response_class=Response)
def route_svg(
    wayfinder: WayfinderDep,
    origin: FromQuery,
    destination: ToQuery,
    accessible: AccessibleQuery = False,
    lang: LangQuery = "en",
) -> Response:
    """The floor plans the route crosses with the route drawn on them."""
    planned = _plan(wayfinder, origin, destination, accessible)
    return Response(
        render_svg(wayfinder.map, planned, lang=lang),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/route.html", response_class=HTMLResponse)
def route_page(
    wayfinder: WayfinderDep,
    origin: FromQuery,
    destination: ToQuery,
    accessible: AccessibleQuery = False,
    lang: LangQuery = "zh",
) -> HTMLResponse:
    """A self-contained page for a phone (the kiosk's QR code): directions and the map."""
    planned = _plan(wayfinder, origin, destination, accessible)
    other = "en" if lang == "zh" else "zh"
    title = f"{planned.origin.name.in_lang(lang)} → {planned.destination.name.in_lang(lang)}"
    steps = "".join(f"<li>{escape(step.text.in_lang(lang))}</li>" for step in planned.steps)
    switch = f"?{_query(origin, destination, accessible, other)}"
    label = "English" if other == "en" else "中文"
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1rem;font-size:1.15rem}"
        "svg{width:100%;height:auto}li{margin:.4rem 0}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{round(planned.distance_m)} m · "
        f'<a href="{escape(switch)}">{label}</a></p><ol>{steps}</ol>'
        f"{render_svg(wayfinder.map, planned, lang=lang)}</body></html>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "public, max-age=300"})
