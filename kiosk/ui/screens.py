"""Screens: each renders the controller's state into widgets (layouts in ``kiosk/kv``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.floorplan import RoutePlan, other_floor
from kiosk.ui.floorplan import FloorPlanWidget
from kiosk.ui.qr import QrImage
from kiosk.ui.widgets import Card, KioskButton, KioskLabel, MapCard

if TYPE_CHECKING:
    from kiosk.ui.app import KioskApp

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back")
CHIPS = ("chip_fast", "chip_easy", "chip_slow", "chip_hard_to_read")


def kiosk_app() -> KioskApp:
    """The running KioskApp."""
    return App.get_running_app()  # type: ignore[no-any-return]


class KioskScreen(Screen):
    """A screen that can redraw itself from the controller."""

    def refresh(self) -> None:
        """Show the controller's current state."""


class WelcomeScreen(KioskScreen):
    """Language, elder mode, start."""


class ThanksScreen(KioskScreen):
    """Goodbye after feedback."""


class IdentifyScreen(KioskScreen):
    """Scanner field and the numeric keypad."""

    field = StringProperty("number")
    number_text = StringProperty("")
    birth_text = StringProperty("")
    ready = BooleanProperty(False)

    def on_kv_post(self, base_widget: Widget) -> None:
        app = kiosk_app()
        for key in KEYS:
            label = {"clear": "key_clear", "back": "key_back"}.get(key)
            button = KioskButton(tag=f"key_{key}", role="secondary" if label else "primary")
            button.text = key
            button.bind(on_release=lambda _b, k=key: app.press_key(k))
            if label:
                app.translated(button, label)
            app.sized(button, "key_dp")
            self.ids.keypad.add_widget(button)

    def refresh(self) -> None:
        keypad = kiosk_app().controller.keypad
        self.field = keypad.field
        self.number_text = keypad.number
        self.birth_text = keypad.birth_display()
        self.ready = keypad.ready()

    def clear_inputs(self) -> None:
        """Forget what the scanner typed."""
        self.ids.scan.text = ""

    def on_enter(self, *_args: Any) -> None:
        # The scanner types into whatever has focus: give it the scan field.
        self.ids.scan.focus = True


class PatientScreen(KioskScreen):
    """A page of cards, page turns, an optional action and the patient navigation bar."""

    title = StringProperty("")
    page = NumericProperty(0)
    pages = NumericProperty(1)
    action_tag = StringProperty("")
    action_text = StringProperty("")

    def items(self) -> Sequence[Any]:
        """What the cards show."""
        return ()

    def card(self, item: Any) -> Widget:
        """One card; every paged screen overrides it (Kivy's widget metaclass rules out ABC)."""
        raise NotImplementedError(f"{type(self).__name__} must define card()")

    def empty_key(self) -> str:
        """The i18n key shown when there is nothing."""
        return ""

    def per_page(self) -> int:
        """Cards per page (elder mode shows fewer)."""
        return int(kiosk_app().theme.items_per_page)

    def turn(self, step: int) -> None:
        """Next or previous page."""
        self.page = max(0, min(self.pages - 1, self.page + step))
        kiosk_app().touched()
        self.refresh()

    def act(self) -> None:
        """The action button."""

    def refresh(self) -> None:
        app = kiosk_app()
        items = list(self.items())
        per_page = self.per_page()
        self.pages = max(1, math.ceil(len(items) / per_page))
        self.page = min(self.page, self.pages - 1)
        box = self.ids.cards
        box.clear_widgets()
        if not items:
            box.add_widget(KioskLabel(text=app.tr(self.empty_key())))
        start = self.page * per_page
        for item in items[start : start + per_page]:
            box.add_widget(self.card(item))
        if not any(child.size_hint_y for child in box.children):
            box.add_widget(Widget())  # cards keep their height, at the top


def _row(*widgets: Widget, height: float | None = None) -> BoxLayout:
    row = BoxLayout(spacing=dp(16), size_hint_y=None)
    for widget in widgets:
        row.add_widget(widget)
    if height is None:
        row.bind(minimum_height=row.setter("height"))
        row.height = max((w.height for w in widgets), default=0)

        def fit(*_args: Any) -> None:
            row.height = max(w.height for w in widgets)

        for widget in widgets:
            widget.bind(height=fit)
    else:
        row.height = height
    return row


def _column(*widgets: Widget) -> BoxLayout:
    column = BoxLayout(orientation="vertical", spacing=dp(4), size_hint_y=None)
    column.bind(minimum_height=column.setter("height"))
    for widget in widgets:
        column.add_widget(widget)
    return column


class AppointmentsScreen(PatientScreen):
    """Today's appointments and their check-in buttons."""

    def items(self) -> Sequence[Any]:
        app = kiosk_app()
        self.title = app.tr("appointments_title")
        return app.controller.appointments

    def empty_key(self) -> str:
        return "no_appointments"

    def card(self, item: Any) -> Widget:
        app = kiosk_app()
        lang = app.lang
        card = Card(tag=f"appointment_{item.id}", item_id=item.id)
        details = _column(
            KioskLabel(level="title", text=f"{item.time}  {item.department.in_(lang)}"),
            KioskLabel(text=item.clinician.in_(lang)),
            KioskLabel(level="muted", text=item.location.in_(lang)),
        )
        if item.ticket:
            side: Widget = KioskLabel(
                tag=f"ticket_{item.id}",
                level="ok",
                text=app.tr("checked_in_ticket", ticket=item.ticket),
                font_size=app.theme_sp("title_sp"),
            )
        elif item.can_check_in:
            side = KioskButton(tag=f"checkin_{item.id}", role="ok", text=app.tr("check_in"))
            side.disabled = not app.online
            side.bind(on_release=lambda _b, i=item.id: app.check_in(i))
        else:
            side = KioskLabel(level="muted", text=app.tr(f"status_{item.status}"))
        side.size_hint_x = 0.4
        details.size_hint_x = 0.6
        card.add_widget(_row(details, side))
        return card


class BillsScreen(PatientScreen):
    """Bills with totals, insurance share, lines and a pay QR code."""

    def items(self) -> Sequence[Any]:
        app = kiosk_app()
        self.title = app.tr("bills_title")
        return app.controller.bills

    def empty_key(self) -> str:
        return "no_bills"

    def card(self, item: Any) -> Widget:
        app = kiosk_app()
        lang = app.lang
        card = Card(tag=f"bill_{item.id}", item_id=item.id)
        status = app.tr("bill_paid" if item.paid else "bill_unpaid")
        shown = 2 if app.elder else 3
        lines = [
            KioskLabel(
                level="muted",
                text=f"{line.description.in_(lang)} ×{line.quantity}   {line.amount}",
            )
            for line in item.lines[:shown]
        ]
        if len(item.lines) > shown:
            lines.append(
                KioskLabel(
                    level="muted", text=app.tr("bill_more_lines", count=len(item.lines) - shown)
                )
            )
        details = _column(
            KioskLabel(
                level="title",
                text=f"{app.tr('bill_self_pay', amount=item.self_pay)}   ·   {status}",
            ),
            KioskLabel(
                text=f"{app.tr('bill_total', amount=item.total)}   "
                f"{app.tr('bill_insurance', amount=item.insurance)}   "
                f"{app.tr('bill_number', number=item.number)}"
            ),
            *lines,
        )
        if item.pay_url:
            side = _column(
                QrImage(data=item.pay_url, size_hint_y=None, height=dp(150), allow_stretch=True),
                KioskLabel(level="muted", halign="center", text=app.tr("bill_pay_hint")),
            )
            side.size_hint_x = 0.3
            details.size_hint_x = 0.7
            card.add_widget(_row(details, side))
        else:
            card.add_widget(details)
        return card


class ReportsScreen(PatientScreen):
    """Reports to select and print."""

    def items(self) -> Sequence[Any]:
        app = kiosk_app()
        self.title = app.tr("reports_title")
        self.action_tag = "print"
        self.action_text = app.tr("print_selected")
        return app.controller.reports

    def empty_key(self) -> str:
        return "no_reports"

    def act(self) -> None:
        kiosk_app().print_selected()

    def card(self, item: Any) -> Widget:
        app = kiosk_app()
        card = Card(tag=f"report_card_{item.id}", item_id=item.id)
        if item.abnormal_count:
            summary = KioskLabel(
                level="danger", text=app.tr("report_abnormal", count=item.abnormal_count)
            )
        else:
            summary = KioskLabel(level="ok", text=app.tr("report_normal"))
        facts = [summary]
        if item.printed_count:
            facts.append(
                KioskLabel(
                    level="muted", text=app.tr("report_printed_before", count=item.printed_count)
                )
            )
        details = _column(
            KioskLabel(level="title", text=item.title.in_(app.lang)),
            KioskLabel(level="muted", text=item.reported),
            *facts,
        )
        chosen = item.id in app.controller.selected_reports
        button = KioskButton(
            tag=f"report_{item.id}",
            role="ok" if chosen else "secondary",
            text=app.tr("selected" if chosen else "select"),
        )
        button.bind(on_release=lambda _b, i=item.id: app.toggle_report(i))
        details.size_hint_x = 0.7
        button.size_hint_x = 0.3
        card.add_widget(_row(details, button))
        return card


class DirectionsScreen(PatientScreen):
    """Where each of today's departments is: the floor plan with the route, its steps and a QR
    code for the phone; the location text (and steps) when the map cannot draw it."""

    floor = StringProperty("")

    def items(self) -> Sequence[Any]:
        app = kiosk_app()
        self.title = app.tr("directions_title")
        return app.controller.directions

    def empty_key(self) -> str:
        return "directions_none"

    def per_page(self) -> int:
        return 1  # a route is long: one department per page

    def on_pre_enter(self, *_args: Any) -> None:
        self.floor = ""

    def turn(self, step: int) -> None:
        self.floor = ""
        super().turn(step)

    def show_floor(self, floor: str) -> None:
        """A floor button: show that floor of the route."""
        self.floor = floor
        kiosk_app().touched()
        self.refresh()

    def card(self, item: Any) -> Widget:
        app = kiosk_app()
        route = item.route
        if route is not None and app.controller.can_draw(route):
            return self._map_card(item, route)
        lang = app.lang
        texts = [step.text.in_(lang) for step in route.steps] if route is not None else []
        steps = [
            KioskLabel(tag=f"step_{number}", text=f"{number}. {text}")
            for number, text in enumerate(texts[: 4 if app.elder else 6], start=1)
        ]
        if not steps:
            steps = [KioskLabel(level="muted", text=app.tr("directions_map_soon"))]
        card = Card()
        card.add_widget(
            _column(
                KioskLabel(level="title", text=item.department.in_(lang)),
                KioskLabel(text=item.location.in_(lang)),
                *steps,
            )
        )
        return card

    def _map_card(self, item: Any, route: RoutePlan) -> Widget:
        app = kiosk_app()
        lang = app.lang
        plans = app.controller.floor_plans
        floor = self.floor if self.floor in route.floors else route.origin_floor
        onward = ""
        if floor != route.destination_floor:
            after = other_floor(route, floor, 1)
            onward = app.tr("map_to_floor", floor=plans[after].name.in_(lang))
        plan = FloorPlanWidget(
            plan=plans[floor],
            route=route,
            lang=lang,
            here_text=app.tr("map_here"),
            onward_text=onward,
            text_sp=app.theme.body_sp,
        )
        left = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_x=0.6)
        tabs = BoxLayout(spacing=dp(8), size_hint_y=None, height=dp(app.theme.touch_dp))
        for floor_id in route.floors:
            button = KioskButton(
                tag=f"floor_{floor_id}",
                role="primary" if floor_id == floor else "secondary",
                text=plans[floor_id].name.in_(lang),
            )
            button.bind(on_release=lambda _b, f=floor_id: self.show_floor(f))
            tabs.add_widget(button)
        left.add_widget(tabs)
        left.add_widget(plan)

        steps = [
            KioskLabel(tag=f"step_{step.number}", text=f"{step.number}. {step.text.in_(lang)}")
            for step in route.steps_on(floor)
        ]
        phone = route.phone_url(lang)
        qr_size = dp(120 if app.elder else 140)
        qr_row = _row(
            QrImage(
                tag="route_qr",
                data=phone,
                size_hint=(None, None),
                size=(qr_size, qr_size),
                allow_stretch=True,
            ),
            KioskLabel(level="muted", text=app.tr("map_phone_hint")),
            height=qr_size,
        )
        # The department goes into the screen title: the column keeps its room for the steps.
        self.title = f"{app.tr('directions_title')} · {item.department.in_(lang)}"
        right = BoxLayout(orientation="vertical", spacing=dp(6), size_hint_x=0.4)
        heading = [
            KioskLabel(level="muted", text=app.tr("map_distance", meters=round(route.distance_m)))
        ]
        if not app.elder:
            heading.insert(0, KioskLabel(level="muted", text=item.location.in_(lang)))
        for widget in (*heading, *steps):
            right.add_widget(widget)
        right.add_widget(Widget())
        right.add_widget(qr_row)
        card = MapCard(tag="map_card")
        card.add_widget(left)
        card.add_widget(right)
        return card


class FeedbackScreen(KioskScreen):
    """Stars, quick remarks and an optional comment."""

    def on_kv_post(self, base_widget: Widget) -> None:
        app = kiosk_app()
        for rating in range(1, 6):
            button = KioskButton(tag=f"star_{rating}", text=f"{rating} ★")
            button.bind(on_release=lambda _b, r=rating: app.rate(r))
            app.sized(button, "key_dp")
            self.ids.stars.add_widget(button)
        for chip in CHIPS:
            button = KioskButton(tag=chip, role="secondary")
            button.bind(on_release=lambda _b, c=chip: self.toggle_chip(c))
            app.translated(button, chip)
            self.ids.chips.add_widget(button)
        self.chosen: set[str] = set()

    def toggle_chip(self, chip: str) -> None:
        """Add or remove a quick remark."""
        self.chosen ^= {chip}
        kiosk_app().touched()
        self.refresh()

    def comment(self) -> str:
        """The quick remarks and the typed comment, in the current language."""
        app = kiosk_app()
        remarks = [app.tr(chip) for chip in CHIPS if chip in self.chosen]
        return "; ".join([*remarks, self.ids.comment.text.strip()]).strip("; ")

    def clear_inputs(self) -> None:
        """Forget the comment and remarks."""
        self.ids.comment.text = ""
        self.chosen = set()

    def refresh(self) -> None:
        rating = kiosk_app().controller.rating
        for button in self.ids.stars.children:
            button.role = "ok" if int(button.tag.split("_")[1]) <= rating else "secondary"
        for button in self.ids.chips.children:
            button.role = "ok" if button.tag in self.chosen else "secondary"


class KioskRoot(BoxLayout):
    """Header, screens and status bar."""
