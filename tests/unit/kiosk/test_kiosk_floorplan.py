"""The map screen's model without a window: API JSON → floor plans and routes, the fit to a
widget, floor switching, label placement, and the controller's text fallback."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud.wayfinding.schemas import MapRead, RouteRead
from kiosk.floorplan import (
    PlanFormatError,
    clear_spot,
    crosses_box,
    fit,
    other_floor,
    parse_plan,
    parse_route,
)
from kiosk.printing.documents import Bilingual
from kiosk.session import KioskController
from wayfinding.mapfile import sample_map
from wayfinding.routing import Router

BASE = "http://10.0.0.5:8000/"
HOSPITAL = sample_map()


def route_json(to: str) -> dict[str, Any]:
    planned = Router(HOSPITAL).route("kiosk-f1", to)
    query = f"from=kiosk-f1&to={to}&accessible=false"
    body = RouteRead.of(
        planned,
        svg_url=f"/api/v1/wayfinding/route.svg?{query}",
        page_url=f"/api/v1/wayfinding/route.html?{query}",
    )
    return body.model_dump(mode="json")


def test_fit_is_uniform_centred_and_north_up() -> None:
    # A 60 m x 26 m floor in a 700 x 300 px widget at (40, 100), 10 px margin.
    fitted = fit((0, 0, 60, 26), (40, 100), (700, 300), margin=10)
    assert fitted.scale == pytest.approx(280 / 26)  # the height limits it
    left, bottom = fitted.apply((0, 0))
    right, top = fitted.apply((60, 26))
    assert (bottom, top) == pytest.approx((110, 390))
    assert left - 40 == pytest.approx(740 - right)  # centred across
    assert fitted.apply((30, 13)) == pytest.approx((390, 250))  # middle to middle
    assert fitted.apply_all([(0, 0), (60, 26)]) == pytest.approx([left, bottom, right, top])
    wide = fit((10, 5, 20, 6), (0, 0), (100, 100))
    assert wide.scale == 10 and wide.apply((10, 5)) == pytest.approx((0, 45))


def test_map_json_becomes_floor_plans() -> None:
    plans = parse_plan(MapRead.of(HOSPITAL).model_dump(mode="json"))
    assert list(plans) == ["F1", "F2"]
    first = plans["F1"]
    assert first.name == Bilingual("一楼", "Floor 1") and first.bounds == (0, 0, 60, 26)
    lab = next(p for p in first.places if p.id == "laboratory")
    assert lab.kind == "department" and lab.name.in_("zh") == "检验科"
    assert lab.polygon[0] == (22, 14.5) and lab.label_at == (31, 20.25)
    with pytest.raises(PlanFormatError):
        parse_plan({"floors": [{"id": "F1"}]})
    body = MapRead.of(HOSPITAL).model_dump(mode="json")
    body["floors"][0]["places"][0]["polygon"] = [[0, 0], [1, 1]]
    with pytest.raises(PlanFormatError, match="3 points"):
        parse_plan(body)


def test_route_json_becomes_a_route_with_an_absolute_phone_link() -> None:
    body = route_json("cardiology")
    route = parse_route(body, BASE)
    assert route.floors == ("F1", "F2") and route.origin == (9, 3)
    assert (route.origin_floor, route.destination_floor) == ("F1", "F2")
    assert route.destination_id == "cardiology"
    assert [len(p) for p in route.leg_points("F2")] == [len(body["legs"][1]["points"])]
    assert route.page_url == (
        "http://10.0.0.5:8000/api/v1/wayfinding/route.html"
        "?from=kiosk-f1&to=cardiology&accessible=false"
    )
    assert route.phone_url("en").endswith("&accessible=false&lang=en")
    on_f2 = route.steps_on("F2")
    assert [s.number for s in route.steps_on("F1")] == [1, 2, 3]
    assert [s.number for s in on_f2] == [4, 5, 6]
    assert on_f2[-1].text == Bilingual("前方7米到达：心内科", "7 m ahead: Cardiology")
    assert other_floor(route, "F1", 1) == "F2" and other_floor(route, "F2", 1) == "F2"
    assert other_floor(route, "F2", -1) == "F1" and other_floor(route, "B1", 1) == "F1"
    with pytest.raises(PlanFormatError):
        parse_route({**body, "legs": [{"floor": "F1", "points": [[1, 2, 3]]}]}, BASE)


def test_labels_move_off_the_route() -> None:
    line = [0.0, 0.0, 100.0, 0.0]  # a horizontal route along y = 0
    assert crosses_box(line, (40, -5, 60, 5)) and not crosses_box(line, (40, 1, 60, 5))
    assert crosses_box([50.0, -10.0, 50.0, 10.0], (0, -1, 100, 1))  # crossing, no end inside
    assert not crosses_box([0.0, 0.0, 10.0, 10.0], (8, 0, 10, 1))  # passes the corner by
    spots = [(50.0, 0.0), (50.0, 20.0), (50.0, -20.0)]
    assert clear_spot((30, 10), spots, [line]) == (50, 20)
    assert clear_spot((30, 10), spots, []) == (50, 0)
    assert clear_spot((30, 100), spots, [line]) == (50, 0)  # nowhere clear: the first
    # Inside the place only: (50, 20) would stick out of it.
    assert clear_spot((30, 10), spots, [line], within=(0, -30, 100, 10)) == (50, -20)


class FakeApi:
    """The two wayfinding calls and an open session; records what was asked."""

    def __init__(self, plans: Any) -> None:
        self.session_token: str | None = "session"
        self.plans = plans
        self.plan_calls = 0

    def appointments(self) -> list[dict[str, Any]]:
        department = {
            "name_zh": "心血管内科",
            "name_en": "Cardiology",
            "location_zh": "3 层",
            "location_en": "3F",
        }
        other = {**department, "name_en": "General Internal Medicine", "name_zh": "全科"}
        return [self._visit(1, department), self._visit(2, other)]

    @staticmethod
    def _visit(number: int, department: dict[str, str]) -> dict[str, Any]:
        return {
            "id": number,
            "department": department,
            "clinician_name_zh": "",
            "clinician_title_zh": "",
            "clinician_name_en": "",
            "clinician_title_en": "",
            "starts_at": "2026-11-20T01:00:00Z",
            "status": "booked",
            "ticket": None,
            "can_check_in": True,
        }

    def route(self, origin: str, destination: str) -> dict[str, Any] | None:
        return route_json(destination) if destination == "cardiology" else None

    def floor_plans(self) -> Any:
        self.plan_calls += 1
        return self.plans

    def end_session(self) -> None:
        self.session_token = None


def controller(api: FakeApi) -> KioskController:
    return KioskController(
        api,  # type: ignore[arg-type]
        report_printer=None,  # type: ignore[arg-type]
        ticket_printer=None,  # type: ignore[arg-type]
        hospital=Bilingual("医院", "Hospital"),
        zone=ZoneInfo("Asia/Shanghai"),
        public_url="https://hospital.example",
    )


def test_directions_load_routes_and_the_floor_plans_once() -> None:
    api = FakeApi(MapRead.of(HOSPITAL).model_dump(mode="json"))
    kiosk = controller(api)
    kiosk.show("directions")
    cardiology, general = kiosk.directions
    assert cardiology.route is not None and kiosk.can_draw(cardiology.route)
    assert cardiology.route.page_url.startswith("https://hospital.example/api/v1/wayfinding/")
    assert general.route is None  # no such place on the map: the location text only
    kiosk.wipe()
    api.session_token = "next patient"
    kiosk.show("directions")
    assert api.plan_calls == 1  # public data: kept across patients


def test_unusable_floor_plans_leave_the_steps_as_text() -> None:
    kiosk = controller(FakeApi({"floors": "nonsense"}))
    kiosk.show("directions")
    route = kiosk.directions[0].route
    assert route is not None and len(route.steps) == 6 and not kiosk.can_draw(route)
