"""The public wayfinding endpoints: route JSON, SVG, phone page, places, clear 404/422."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.testing import ApiHarness, make_harness


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def test_route_json_without_login(api: ApiHarness) -> None:
    response = api.client.get(
        "/api/v1/wayfinding/route", params={"from": "kiosk-f1", "to": "radiology"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["origin"]["id"] == "kiosk-f1" and body["destination"]["name"] == {
        "en": "Radiology",
        "zh": "放射科",
    }
    assert body["distance_m"] == 21.2 and body["floors"] == ["F1"]
    assert body["legs"][0]["points"][0] == [9.0, 3.0]
    assert [s["text"]["en"] for s in body["steps"]] == [
        "10 m ahead, turn right",
        "4 m ahead, turn left: Radiology",
        "7 m ahead: Radiology",
    ]
    assert body["steps"][1]["text"]["zh"] == "前方4米左转：放射科"
    assert (
        body["svg_url"]
        == "/api/v1/wayfinding/route.svg?from=kiosk-f1&to=radiology&accessible=false"
    )
    assert body["page_url"].startswith("/api/v1/wayfinding/route.html?")
    assert api.client.get(body["svg_url"]).status_code == 200


def test_accessible_route_avoids_stairs(api: ApiHarness) -> None:
    params = {"from": "kiosk-f1", "to": "ophthalmology"}
    fast = api.client.get("/api/v1/wayfinding/route", params=params).json()
    easy = api.client.get(
        "/api/v1/wayfinding/route", params={**params, "accessible": "true"}
    ).json()
    assert [s["kind"] for s in fast["steps"]].count("stairs") == 1
    assert "stairs" not in [s["kind"] for s in easy["steps"]]
    assert "lift" in [s["kind"] for s in easy["steps"]]
    assert easy["accessible"] is True and [leg["floor"] for leg in easy["legs"]] == ["F1", "F2"]


def test_svg_and_page(api: ApiHarness) -> None:
    params = {"from": "kiosk-f2", "to": "emergency", "lang": "zh"}
    svg = api.client.get("/api/v1/wayfinding/route.svg", params=params)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(svg.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and "急诊科" in svg.text
    page = api.client.get("/api/v1/wayfinding/route.html", params=params)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "走楼梯下到一楼" in page.text and "<svg" in page.text
    assert "lang=en" in page.text  # a link to the English page


def test_places(api: ApiHarness) -> None:
    body = api.client.get("/api/v1/wayfinding/places").json()
    assert [f["id"] for f in body["floors"]] == ["F1", "F2"]
    ids = {p["id"]: p for p in body["places"]}
    assert ids["cardiology"]["name"]["zh"] == "心内科" and ids["kiosk-f1"]["kind"] == "kiosk"
    assert "F1-corridor" not in ids


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"from": "kiosk-f1", "to": "mars"}, 404, "to: unknown place 'mars'"),
        ({"from": "atlantis", "to": "radiology"}, 404, "from: unknown place 'atlantis'"),
        ({"to": "radiology"}, 422, None),
        ({"from": "kiosk-f1", "to": "radiology", "accessible": "maybe"}, 422, None),
    ],
)
def test_bad_requests(
    api: ApiHarness, params: dict[str, str], status: int, detail: str | None
) -> None:
    for path in ("/route", "/route.svg", "/route.html"):
        response = api.client.get(f"/api/v1/wayfinding{path}", params=params)
        assert response.status_code == status, (path, response.text)
        if detail:
            assert response.json() == {"detail": detail}


def test_unknown_language_is_refused(api: ApiHarness) -> None:
    response = api.client.get(
        "/api/v1/wayfinding/route.svg", params={"from": "kiosk-f1", "to": "radiology", "lang": "fr"}
    )
    assert response.status_code == 422


def test_map_gives_the_floor_plans_to_draw(api: ApiHarness) -> None:
    response = api.client.get("/api/v1/wayfinding/map")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["map_id"] == "sample-hospital"
    assert [f["id"] for f in body["floors"]] == ["F1", "F2"]
    first = body["floors"][0]
    assert first["outline"] == [[0, 0], [60, 0], [60, 26], [0, 26]]
    places = {p["id"]: p for p in first["places"]}
    assert places["radiology"]["polygon"] == [[4, 14.5], [22, 14.5], [22, 26], [4, 26]]
    assert places["radiology"]["label_at"] == [13, 20.25]
    assert places["radiology"]["name"] == {"en": "Radiology", "zh": "放射科"}
    assert places["F1-corridor"]["kind"] == "corridor"
    assert "cardiology" not in places  # a floor holds only its own places
    assert [[9, 3], [9, 5.75]] in first["walkways"]  # kiosk-f1 to the lobby
    # No lift or stairs link (same x, y on two floors): those are drawn on neither floor.
    assert all(a != b for floor in body["floors"] for a, b in floor["walkways"])
    assert first["kiosks"] == [
        {"id": "kiosk-f1", "name": {"en": "Floor 1 kiosk", "zh": "一楼自助机"}, "x": 9, "y": 3}
    ]
