"""Routes, accessible routes, turn-by-turn directions in zh/en, and the SVG floor plan."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from types import MappingProxyType

import pytest
import yaml

from wayfinding.directions import spoken_distance
from wayfinding.errors import NoRoute, UnknownPlace
from wayfinding.mapfile import SAMPLE_MAP, sample_map
from wayfinding.model import parse_map
from wayfinding.routing import Router
from wayfinding.svg import render_svg


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(sample_map())


def test_same_floor_route_and_directions(router: Router) -> None:
    route = router.route("kiosk-f1", "radiology")
    # kiosk (9,3) → lobby (9,5.75) → door (9,11.5) → corridor (9,13) → (13,13) → door → room.
    assert route.distance_m == pytest.approx(10.0 + 4.0 + 1.5 + 5.75)
    assert route.floors == ("F1",)
    assert route.legs[0].points[0] == (9.0, 3.0) and route.legs[0].points[-1] == (13.0, 20.25)
    assert [(s.kind, s.turn) for s in route.steps] == [
        ("turn", "right"),
        ("turn", "left"),
        ("arrive", None),
    ]
    assert [s.text.en for s in route.steps] == [
        "10 m ahead, turn right",
        "4 m ahead, turn left: Radiology",
        "7 m ahead: Radiology",
    ]
    assert [s.text.zh for s in route.steps] == [
        "前方10米右转",
        "前方4米左转：放射科",
        "前方7米到达：放射科",
    ]


def test_shortest_route_takes_the_stairs_accessible_one_the_lift(router: Router) -> None:
    fast = router.route("kiosk-f1", "ophthalmology")
    assert "F1-stairs" in fast.nodes and "F1-lift" not in fast.nodes
    assert [s.kind for s in fast.steps].count("stairs") == 1
    assert "Take the stairs up to Floor 2" in [s.text.en for s in fast.steps]
    assert "走楼梯上到二楼" in [s.text.zh for s in fast.steps]
    easy = router.route("kiosk-f1", "ophthalmology", accessible=True)
    assert "F1-lift" in easy.nodes and "F1-stairs" not in easy.nodes
    assert easy.accessible and easy.floors == ("F1", "F2")
    lift = [s for s in easy.steps if s.kind == "lift"]
    assert [(s.text.en, s.text.zh) for s in lift] == [("Take the lift to Floor 2", "乘电梯到二楼")]
    assert easy.steps[-2].text.en == "50 m ahead, turn right: Ophthalmology"
    assert easy.steps[-2].text.zh == "前方50米右转：眼科"
    assert easy.steps[-1].kind == "arrive"


def test_downstairs_and_trivial_routes(router: Router) -> None:
    down = router.route("kiosk-f2", "emergency")
    assert "Take the stairs down to Floor 1" in [s.text.en for s in down.steps]
    here = router.route("radiology", "radiology")
    assert here.distance_m == 0 and [s.text.en for s in here.steps] == ["You are at Radiology"]


def test_kiosk_facing_adds_a_first_turn() -> None:
    raw_map = sample_map()
    router = Router(raw_map)
    assert router.route("kiosk-f1", "pharmacy").steps[0].kind == "turn"  # facing north already
    # The same kiosk with its reader facing east must first turn left (north).
    kiosk = replace(raw_map.kiosks["kiosk-f1"], facing_deg=0.0)
    turned = replace(raw_map, kiosks=MappingProxyType({**raw_map.kiosks, "kiosk-f1": kiosk}))
    first = Router(turned).route("kiosk-f1", "pharmacy").steps[0]
    assert (first.kind, first.turn, first.text.en, first.text.zh) == (
        "face",
        "left",
        "Turn left",
        "向左转",
    )


def test_unknown_places_and_no_route(router: Router) -> None:
    with pytest.raises(UnknownPlace, match="'mars'"):
        router.route("kiosk-f1", "mars")
    with pytest.raises(UnknownPlace, match="'nowhere'"):
        router.route("nowhere", "radiology")
    # A map whose only way up is the stairs has no accessible route upstairs.
    raw = yaml.safe_load(SAMPLE_MAP.read_text(encoding="utf-8"))
    raw["edges"] = [e for e in raw["edges"] if e.get("kind") != "lift"]
    stairs_only = Router(parse_map(raw))
    assert stairs_only.route("kiosk-f1", "surgery").distance_m > 0
    with pytest.raises(NoRoute, match="no accessible route"):
        stairs_only.route("kiosk-f1", "surgery", accessible=True)


@pytest.mark.parametrize(
    ("metres", "spoken"), [(0.2, 1), (4.4, 4), (19.4, 19), (49.0, 50), (52.0, 50), (53.0, 55)]
)
def test_spoken_distance(metres: float, spoken: int) -> None:
    assert spoken_distance(metres) == spoken


def test_svg_draws_the_route_on_each_floor(router: Router) -> None:
    route = router.route("kiosk-f1", "ophthalmology", accessible=True)
    svg = render_svg(sample_map(), route, lang="zh")
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    floors = root.findall("s:g[@class='floor']", ns)
    assert [g.get("data-floor") for g in floors] == ["F1", "F2"]
    assert len(root.findall(".//s:polyline[@class='route']", ns)) == 2
    assert root.find(".//s:circle[@class='here']", ns) is not None
    assert root.find(".//s:circle[@class='destination']", ns) is not None
    assert "您在这里" in svg and "眼科" in svg
    # The first route point is the kiosk at (9, 3): x = 16 + 9·12, y = 28 + 16 + (26-3)·12.
    first = root.find(".//s:polyline[@class='route']", ns).get("points").split()[0]  # type: ignore[union-attr]
    assert first == "124.0,320.0"
    plan = render_svg(sample_map(), lang="en", show_beacons=True)
    assert len(ET.fromstring(plan).findall("s:g[@class='floor']", ns)) == 2
    assert plan.count("<circle") == len(sample_map().beacons)
