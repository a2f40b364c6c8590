"""The floor plan with the route, drawn with Kivy canvas instructions from the API's geometry.

The fit (metres → pixels) and the floor choice are in ``kiosk.floorplan``; this widget only
draws. What it drew is kept (``drawn_route``, ``drawn_here``, ``drawn_destination``) so the
UI tests compare it with the API's polylines.
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line, Mesh
from kivy.graphics.tesselator import TYPE_POLYGONS, WINDING_ODD, Tesselator
from kivy.metrics import dp, sp
from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.floorplan import Fit, FloorPlan, Point, RoutePlan, clear_spot, fit
from kiosk.theme import hex_rgb

#: Fill colours by place kind (as in the phone page's SVG, wayfinding/svg.py).
FILL = {
    "department": "#dbeafe",
    "room": "#e0e7ff",
    "lobby": "#fef3c7",
    "corridor": "#f3f4f6",
    "lift": "#dcfce7",
    "stairs": "#fee2e2",
}
ROUTE = "#dc2626"
HERE = "#1d4ed8"
INK = "#1f2937"
GOAL = "#fde2e2"
LABELLED = ("department", "room", "lobby")
LABEL_RAISE_M = 2.5
EDGE = "#9ca3af"


class MapLabel(Label):
    """A name or marker text on the map, with a tag for the UI tests."""

    tag = StringProperty("")


class FloorPlanWidget(Widget):
    """One floor of ``plan`` with the part of ``route`` on it, fitted to the widget."""

    plan: Any = ObjectProperty(None, allownone=True)
    route: Any = ObjectProperty(None, allownone=True)
    lang = StringProperty("zh")
    here_text = StringProperty("")
    onward_text = StringProperty("")
    #: Body text size (sp) of the current theme; labels on the map are drawn a little smaller.
    text_sp: Any = ObjectProperty(22)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fit: Fit | None = None
        self.drawn_route: list[list[float]] = []
        self.drawn_here: Point | None = None
        self.drawn_destination: Point | None = None
        self.bind(
            pos=self.redraw,
            size=self.redraw,
            plan=self.redraw,
            route=self.redraw,
            lang=self.redraw,
        )

    @property
    def floor_id(self) -> str:
        plan: FloorPlan | None = self.plan
        return plan.id if plan is not None else ""

    def redraw(self, *_args: Any) -> None:
        """Draw the floor again (size, floor, route or language changed)."""
        self.canvas.clear()
        self.clear_widgets()
        self.drawn_route, self.drawn_here, self.drawn_destination = [], None, None
        plan: FloorPlan | None = self.plan
        if plan is None or self.width < 10 or self.height < 10:
            self.fit = None
            return
        self.fit = fitted = fit(plan.bounds, self.pos, self.size, margin=dp(8))
        with self.canvas:
            _fill(fitted.apply_all(plan.outline), "#ffffff")
            for place in plan.places:
                colour = FILL.get(place.kind, "#ffffff")
                if self.route is not None and place.id == self.route.destination_id:
                    colour = GOAL
                _fill(fitted.apply_all(place.polygon), colour)
                Color(*hex_rgb(EDGE))
                Line(points=fitted.apply_all(place.polygon), close=True, width=1)
            Color(*hex_rgb(INK))
            Line(points=fitted.apply_all(plan.outline), close=True, width=dp(1.5))
        route: RoutePlan | None = self.route
        if route is not None:
            self._draw_route(route, plan, fitted)
        for place in plan.places:
            if place.kind in LABELLED:
                x0, y0 = fitted.apply(place.bounds[:2])
                x1, y1 = fitted.apply(place.bounds[2:])
                # Above the middle, where routes end; beside the route or below the middle if
                # it runs there and the place has room, else over it (white-outlined text).
                x, middle = fitted.apply(place.label_at)
                raise_px = fitted.scale * LABEL_RAISE_M
                y = middle + raise_px
                goal = route is not None and place.id == route.destination_id
                label = self._label(place.name.in_(self.lang), (x, y), INK, bold=goal)
                shift = label.width / 2 + dp(6)
                label.center = clear_spot(
                    label.size,
                    [(x, y), (x - shift, y), (x + shift, y), (x, middle - raise_px)],
                    self.drawn_route,
                    within=(x0, y0, x1, y1),
                )

    def _draw_route(self, route: RoutePlan, plan: FloorPlan, fitted: Fit) -> None:
        width = max(dp(3), fitted.scale * 0.4)
        with self.canvas:
            Color(*hex_rgb(ROUTE))
            for points in route.leg_points(plan.id):
                flat = fitted.apply_all(points)
                self.drawn_route.append(flat)
                Line(points=flat, width=width, joint="round", cap="round")
            if route.destination_floor == plan.id:
                self.drawn_destination = x, y = fitted.apply(route.destination)
                _dot(x, y, dp(15), "#ffffff")
                _dot(x, y, dp(11), ROUTE)
            elif self.drawn_route:
                x, y = self.drawn_route[-1][-2:]
                _dot(x, y, dp(12), INK)
            if route.origin_floor != plan.id and self.drawn_route:
                x, y = self.drawn_route[0][:2]
                _dot(x, y, dp(12), INK)  # where the lift or stairs bring the patient
            if route.origin_floor == plan.id:
                self.drawn_here = x, y = fitted.apply(route.origin)
                _dot(x, y, dp(16), "#ffffff")
                _dot(x, y, dp(12), HERE)
        if self.drawn_here is not None:
            self._side_label(self.here_text, self.drawn_here, HERE, "map_here")
        if route.destination_floor != plan.id and self.drawn_route and self.onward_text:
            x, y = self.drawn_route[-1][-2:]
            self._side_label(self.onward_text, (x, y), INK, "map_onward")

    def _side_label(self, text: str, at: Point, colour: str, tag: str) -> None:
        """A marker's text beside it: to the right, or to the left near the right edge."""
        label = self._label(text, at, colour, bold=True, tag=tag)
        gap = dp(20) + label.width / 2
        x = at[0] + gap if at[0] + gap + label.width / 2 <= self.right else at[0] - gap
        label.center = (x, at[1])

    def _label(
        self, text: str, at: Point, colour: str, *, bold: bool = False, tag: str = "map_label"
    ) -> MapLabel:
        label = MapLabel(
            tag=tag,
            text=text,
            color=(*hex_rgb(colour), 1),
            font_size=sp(max(14.0, float(self.text_sp) * 0.75)),
            bold=bold,
            halign="center",
            outline_width=2,
            outline_color=(1, 1, 1),
        )
        label.texture_update()
        label.size = label.texture_size
        label.center = at
        self.add_widget(label)
        return label


def _fill(flat: list[float], colour: str) -> None:
    """A filled simple polygon (any shape: tesselated into triangles)."""
    tess = Tesselator()
    tess.add_contour(flat)
    if not tess.tesselate(WINDING_ODD, TYPE_POLYGONS):
        return
    Color(*hex_rgb(colour))
    for vertices, indices in tess.meshes:
        Mesh(vertices=vertices, indices=indices, mode="triangle_fan")


def _dot(x: float, y: float, radius: float, colour: str) -> None:
    Color(*hex_rgb(colour))
    Ellipse(pos=(x - radius, y - radius), size=(2 * radius, 2 * radius))
