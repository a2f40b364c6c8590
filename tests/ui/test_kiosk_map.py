"""The "Where do I go" map under Xvfb against the real API: the floor plan with the route the
wayfinding API planned from this kiosk, the steps beside it, the floor switch and the QR code
that opens the same route on a phone."""

from __future__ import annotations

import math
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from kiosk.ui.qr import qr_matrix
from tests.ui.kiosk_fixtures import display  # noqa: F401  (fixture)
from tests.ui.kiosk_support import Driver, kiosk_backend, run_kiosk

pytestmark = [pytest.mark.ui, pytest.mark.integration]

ZHANG, ZHANG_BIRTH = "1000000001", "19480302"  # laboratory 08:00 (floor 1), cardiology 09:00 (2)
ROUTE_RED = (0xDC, 0x26, 0x26)
HERE_BLUE = (0x1D, 0x4E, 0xD8)


def _drawn(d: Driver, name: str, shot: Path) -> dict[str, Any]:
    """What the map shows now: floor, drawn route, markers, widget box, QR, steps, texts."""
    from kivy.core.window import Window

    plan = next(w for w in d.visible() if type(w).__name__ == "FloorPlanWidget")
    qr = d.find("route_qr")
    pixels = bytes(qr.texture.pixels)
    side = qr.texture.width
    modules = [[pixels[4 * (row * side + col)] == 0 for col in range(side)] for row in range(side)]

    def window(point: Any) -> Any:
        return None if point is None else list(plan.to_window(*point))

    return {
        "floor": plan.floor_id,
        "route": [
            [c for p in zip(flat[::2], flat[1::2], strict=True) for c in window(p)]
            for flat in plan.drawn_route
        ],
        "here": window(plan.drawn_here),
        "destination": window(plan.drawn_destination),
        "box": [*plan.to_window(*plan.pos), plan.width, plan.height],
        "window": [Window.width, Window.height],
        "qr_data": qr.data,
        "qr_modules": modules[::-1],  # textures start at the bottom row
        "steps": sorted(
            (w.tag, w.text) for w in d.visible() if str(getattr(w, "tag", "")).startswith("step_")
        ),
        "texts": d.texts(),
        "shot": str(shot),
        "name": name,
    }


def map_flow(d: Driver) -> Generator[float, None, None]:
    shots = Path(os.environ["KIOSK_MAP_SHOTS"])
    yield from d.until(lambda: d.app.online)
    yield from d.tap("lang_en")
    yield from d.tap("start")
    for key in ZHANG:
        yield from d.tap(f"key_{key}")
    yield from d.tap("field_birth")
    for key in ZHANG_BIRTH:
        yield from d.tap(f"key_{key}")
    yield from d.tap("confirm")
    yield from d.until(lambda: d.screen() == "appointments")
    yield from d.tap("nav_directions")
    yield from d.until(lambda: d.screen() == "directions")
    yield from d.screenshot(shots / "laboratory.png")
    d.record("laboratory", _drawn(d, "laboratory", shots / "laboratory.png"))
    yield from d.tap("next_page")
    yield from d.screenshot(shots / "cardiology-f1.png")
    d.record("cardiology_f1", _drawn(d, "cardiology", shots / "cardiology-f1.png"))
    yield from d.tap("floor_F2")
    yield from d.screenshot(shots / "cardiology-f2.png")
    d.record("cardiology_f2", _drawn(d, "cardiology", shots / "cardiology-f2.png"))
    yield from d.tap("lang_zh")
    d.record("zh_texts")


def _colour_at(image: Image.Image, point: tuple[float, float]) -> tuple[int, int, int]:
    """The screenshot's colour at a Kivy window point (y up; PNG rows go down)."""
    x, y = point
    r, g, b, *_ = image.getpixel((round(x), image.height - 1 - round(y)))
    return (r, g, b)


def _close(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b, strict=True))


def _pairs(flat: list[float]) -> list[tuple[float, float]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


def _check_map(seen: dict[str, Any], route: dict[str, Any], floor: str) -> None:
    """The drawn polyline is the API's leg on floor under one uniform scale and offset, inside
    the widget; the screenshot shows route red along it and the "you are here" dot."""
    assert seen["floor"] == floor
    legs = [leg["points"] for leg in route["legs"] if leg["floor"] == floor]
    assert len(seen["route"]) == len(legs) == 1
    metres, pixels = legs[0], _pairs(seen["route"][0])
    assert len(pixels) == len(metres) > 1
    # screen = offset + scale * map with one scale for x and y (no stretch, north up).
    (mx0, my0), (px0, py0) = metres[0], pixels[0]
    far = max(range(len(metres)), key=lambda i: math.dist(metres[i], metres[0]))
    scale = math.dist(pixels[far], pixels[0]) / math.dist(metres[far], metres[0])
    assert scale > 3, "the map is drawn too small"
    for (mx, my), (px, py) in zip(metres, pixels, strict=True):
        assert px == pytest.approx(px0 + scale * (mx - mx0), abs=0.5)
        assert py == pytest.approx(py0 + scale * (my - my0), abs=0.5)
    left, bottom, width, height = seen["box"]
    assert all(left <= x <= left + width and bottom <= y <= bottom + height for x, y in pixels)
    # The whole 60 m x 26 m floor fits in the widget and fills its width or its height.
    origin = (px0 - scale * mx0, py0 - scale * my0)
    corner = (origin[0] + scale * 60, origin[1] + scale * 26)
    assert left - 0.5 <= origin[0] and corner[0] <= left + width + 0.5
    assert bottom - 0.5 <= origin[1] and corner[1] <= bottom + height + 0.5
    assert max(scale * 60 / width, scale * 26 / height) > 0.9

    image = Image.open(seen["shot"]).convert("RGB")
    assert image.size == tuple(seen["window"])
    for a, b in zip(pixels, pixels[1:], strict=False):
        if math.dist(a, b) > 30:  # the middle of a long segment: no marker on it
            middle = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            assert _close(_colour_at(image, middle), ROUTE_RED), (seen["name"], middle)
    if route["origin"]["floor"] == floor:
        assert seen["here"] == pytest.approx(pixels[0], abs=0.5)
        assert _close(_colour_at(image, seen["here"]), HERE_BLUE)
    else:
        assert seen["here"] is None
    if route["destination"]["floor"] == floor:
        assert seen["destination"] == pytest.approx(pixels[-1], abs=0.5)
    else:
        assert seen["destination"] is None


def test_map_screen_draws_the_route_the_api_planned(display: str, tmp_path: Path) -> None:  # noqa: F811
    with kiosk_backend(tmp_path / "backend") as backend:
        run = run_kiosk(
            "tests.ui.test_kiosk_map:map_flow",
            display=display,
            workdir=tmp_path,
            env={
                "CAREDGE_KIOSK_API_URL": backend.api_url,
                "CAREDGE_KIOSK_TOKEN": backend.demo.kiosk_token,
                "CAREDGE_KIOSK_PRINT_DIR": str(tmp_path / "prints"),
                "KIOSK_MAP_SHOTS": str(tmp_path / "shots"),
            },
        )
        assert run.ok, f"{run.error}\n{run.log[-4000:]}"
        with httpx.Client(base_url=backend.api_url) as http:
            routes = {
                to: http.get("/api/v1/wayfinding/route", params={"from": "kiosk-f1", "to": to})
                for to in ("laboratory", "cardiology")
            }
            page = http.get(run.records["cardiology_f2"]["qr_data"].removeprefix(backend.api_url))
    lab, cardiology = (routes[k].raise_for_status().json() for k in ("laboratory", "cardiology"))
    seen = run.records

    _check_map(seen["laboratory"], lab, "F1")
    _check_map(seen["cardiology_f1"], cardiology, "F1")
    _check_map(seen["cardiology_f2"], cardiology, "F2")

    # The steps beside the map are the API's, for the floor shown, numbered along the route.
    lab_steps = [f"{i}. {s['text']['en']}" for i, s in enumerate(lab["steps"], start=1)]
    assert [text for _tag, text in seen["laboratory"]["steps"]] == lab_steps
    numbered = [
        (f"{i}. {s['text']['en']}", s["floor"]) for i, s in enumerate(cardiology["steps"], 1)
    ]
    for name, floor in (("cardiology_f1", "F1"), ("cardiology_f2", "F2")):
        shown = [text for _tag, text in seen[name]["steps"]]
        assert shown == [text for text, f in numbered if f == floor], (name, shown)
    assert "3. Take the lift to Floor 2" in [t for _tag, t in seen["cardiology_f1"]["steps"]]
    assert "To Floor 2" in seen["cardiology_f1"]["texts"]
    assert {"Laboratory", "Radiology", "Main Lobby", "You are here"} <= set(
        seen["laboratory"]["texts"]
    )
    assert {"Cardiology", "Endocrinology", "Floor 2"} <= set(seen["cardiology_f2"]["texts"])
    zh = seen["zh_texts"]  # the same floor, now in Chinese
    assert {"二楼", "心内科", "内分泌科", f"6. {cardiology['steps'][5]['text']['zh']}"} <= set(zh)

    # The QR code holds the route page of the same route, and the page answers.
    expected_url = f"{backend.api_url}{cardiology['page_url']}&lang=en"
    assert seen["cardiology_f2"]["qr_data"] == expected_url
    assert seen["cardiology_f2"]["qr_modules"] == qr_matrix(expected_url)
    assert seen["laboratory"]["qr_data"] == f"{backend.api_url}{lab['page_url']}&lang=en"
    assert page.status_code == 200 and "Cardiology" in page.text
