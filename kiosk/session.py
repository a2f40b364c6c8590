"""The kiosk's flow as plain objects: screens, what they show and what each touch does.

No Kivy here: the app renders ``KioskController``'s state and calls its verbs, so the flow
is tested without a window. Patient data lives only in this object and is dropped by
``wipe`` (finish, idle timeout, session over): nothing of a patient survives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from kiosk.api_client import (
    ApiUnreachable,
    DeviceRejected,
    IdentifyFailed,
    KioskApi,
    KioskApiError,
    SessionEnded,
)
from kiosk.documents import parse_time, queue_ticket, report_document
from kiosk.floorplan import FloorPlan, PlanFormatError, RoutePlan, parse_plan, parse_route
from kiosk.i18n import Language
from kiosk.keypad import Keypad
from kiosk.money import format_cents
from kiosk.printing.documents import Bilingual, Patient
from kiosk.printing.fonts import DEFAULT_CJK_FONTS
from kiosk.printing.printers import Printer, print_report, print_ticket

log = logging.getLogger(__name__)

Screen = Literal[
    "welcome", "identify", "appointments", "bills", "reports", "directions", "feedback", "thanks"
]
#: Screens that show a patient's data and need a session.
PATIENT_SCREENS: frozenset[Screen] = frozenset({"appointments", "bills", "reports", "directions"})
Level = Literal["info", "ok", "error"]
STALE_WHEN_ONLINE = ("offline", "device_rejected")
T = TypeVar("T")
Json = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A line for the status bar: an i18n key, its placeholders and how it looks."""

    key: str
    level: Level = "info"
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AppointmentView:
    """One appointment today as its card shows it."""

    id: int
    department: Bilingual
    location: Bilingual
    clinician: Bilingual
    time: str
    status: str
    ticket: str | None
    can_check_in: bool
    place_id: str


@dataclass(frozen=True)
class BillLineView:
    """A bill line: description and amount."""

    description: Bilingual
    quantity: int
    amount: str


@dataclass(frozen=True)
class BillView:
    """A bill: number, status, totals and, while unpaid, the pay link."""

    id: int
    number: str
    paid: bool
    total: str
    insurance: str
    self_pay: str
    pay_url: str | None
    lines: tuple[BillLineView, ...]


@dataclass(frozen=True)
class ReportView:
    """A report in the list: title, when, how many abnormal results, printed before."""

    id: int
    kind: str
    title: Bilingual
    reported: str
    abnormal_count: int
    printed_count: int


@dataclass(frozen=True)
class Directions:
    """How to reach one department: its location and, when the map knows it, the route."""

    department: Bilingual
    location: Bilingual
    route: RoutePlan | None = None


def place_id(department: Json) -> str:
    """The wayfinding map's id for a department ("Cardiology" → "cardiology")."""
    return "-".join(str(department.get("name_en", "")).lower().split())


class KioskController:
    """State and verbs of one kiosk; one patient at a time."""

    def __init__(
        self,
        api: KioskApi,
        *,
        report_printer: Printer,
        ticket_printer: Printer,
        hospital: Bilingual,
        zone: ZoneInfo,
        language: Language = "zh",
        elder: bool = False,
        wayfinding_from: str = "kiosk-f1",
        public_url: str = "",
        report_fonts: Sequence[Path] = DEFAULT_CJK_FONTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.report_printer = report_printer
        self.ticket_printer = ticket_printer
        self.hospital = hospital
        self.zone = zone
        self.wayfinding_from = wayfinding_from
        #: Base URL of the route page a phone opens from the QR code.
        self.public_url = public_url
        #: Floor plans of the wayfinding map (public, not patient data: kept across sessions).
        self.floor_plans: dict[str, FloorPlan] = {}
        self.report_fonts = tuple(report_fonts)
        self.clock = clock
        self.language: Language = language
        self.elder = elder
        self.online = False
        self.screen: Screen = "welcome"
        self.message: Message | None = None
        self.keypad = Keypad()
        self.rating = 0
        self._clear_patient()

    # --- state -----------------------------------------------------------------------------

    def _clear_patient(self) -> None:
        self.patient_name = ""
        self.patient_number = ""
        self.appointments: list[AppointmentView] = []
        self.bills: list[BillView] = []
        self.reports: list[ReportView] = []
        self.directions: list[Directions] = []
        self.selected_reports: set[int] = set()
        self.print_outcomes: dict[int, str] = {}
        self._report_json: dict[int, Json] = {}
        self._loaded: set[Screen] = set()

    @property
    def identified(self) -> bool:
        """True while a patient session is open."""
        return self.api.session_token is not None

    def patient_texts(self) -> list[str]:
        """Every piece of patient data held now (the idle test looks for these on screen)."""
        texts = [self.patient_name, self.patient_number, self.keypad.number, self.keypad.birth]
        texts += [a.ticket or "" for a in self.appointments]
        for bill in self.bills:
            texts += [bill.number, bill.total, bill.self_pay]
        texts += [r.title.zh for r in self.reports] + [r.title.en for r in self.reports]
        return [t for t in texts if t]

    def _say(self, key: str, level: Level = "info", **values: object) -> None:
        self.message = Message(key, level, dict(values))

    # --- calls ------------------------------------------------------------------------------

    def _call(self, action: Callable[[], T]) -> T | None:
        """Run an API call; turn its failure into a message (and a wipe when the session ended)."""
        try:
            result = action()
        except SessionEnded:
            self.wipe()
            self._say("session_ended", "error")
            return None
        except ApiUnreachable:
            self.online = False
            self._say("offline", "error")
            return None
        except DeviceRejected:
            self.online = False
            self._say("device_rejected", "error")
            return None
        except IdentifyFailed as error:
            minutes = -(-(error.retry_after_s or 0) // 60)
            self._say(f"identify_{error.code}", "error", minutes=minutes)
            return None
        except KioskApiError as error:
            log.warning("API refused: %s", error)
            self._say(f"refused_{error.code}" if error.code else "refused", "error")
            return None
        self.online = True
        return result

    def check_connection(self) -> bool:
        """Ask the API whether it is there and knows this kiosk; sets ``online``."""
        reached = self._call(self.api.me) is not None
        if reached and self.message is not None and self.message.key in STALE_WHEN_ONLINE:
            self.message = None
        return self.online

    # --- welcome ----------------------------------------------------------------------------

    def set_language(self, language: Language) -> None:
        """Switch the wording (any screen)."""
        self.language = language

    def set_elder(self, elder: bool) -> None:
        """Switch elder mode on or off."""
        self.elder = elder

    def start(self) -> None:
        """From welcome to the identify screen (needs the API)."""
        if not self.check_connection():
            return
        self.message = None
        self.keypad.clear()
        self.screen = "identify"

    # --- identify ---------------------------------------------------------------------------

    def identify_qr(self, scanned: str) -> bool:
        """A scan (scanners type the code and Enter); True when a session opened."""
        code = scanned.strip()
        if not code:
            return False
        found = self._call(lambda: self.api.identify_qr(code))
        return self._opened(found)

    def press_key(self, key: str) -> None:
        """A key of the numeric keypad."""
        self.keypad.press(key)

    def identify_number(self) -> bool:
        """Identify with the keypad's patient number and birth date."""
        birth = self.keypad.birth_date()
        if not self.keypad.number or birth is None:
            self._say("keypad_incomplete", "error")
            return False
        number = self.keypad.number
        found = self._call(lambda: self.api.identify_number(number, birth))
        return self._opened(found)

    def _opened(self, found: Json | None) -> bool:
        self.keypad.clear()
        if found is None:
            return False
        self._clear_patient()
        self.patient_name = found["patient"]["name_masked"]
        self.patient_number = found["patient"]["patient_number_masked"]
        self.message = None
        self.show("appointments")
        return self.identified

    # --- patient screens -------------------------------------------------------------------

    def show(self, screen: Screen) -> None:
        """Go to screen, loading what it shows the first time."""
        if screen in PATIENT_SCREENS and not self.identified:
            self.wipe()
            return
        loaders: dict[Screen, Callable[[], bool]] = {
            "appointments": self._load_appointments,
            "bills": self._load_bills,
            "reports": self._load_reports,
            "directions": self._load_directions,
        }
        loader = loaders.get(screen)
        if loader is not None and screen not in self._loaded:
            if not loader():
                return
            self._loaded.add(screen)
        if self.identified or screen not in PATIENT_SCREENS:
            if screen != self.screen:
                self.message = None
            self.screen = screen

    def _local_time(self, text: str) -> str:
        return parse_time(text).astimezone(self.zone).strftime("%H:%M")

    def _appointment(self, item: Json) -> AppointmentView:
        department = item["department"]
        return AppointmentView(
            id=item["id"],
            department=Bilingual(department["name_zh"], department["name_en"]),
            location=Bilingual(department["location_zh"], department["location_en"]),
            clinician=Bilingual(
                " ".join(filter(None, [item["clinician_name_zh"], item["clinician_title_zh"]])),
                ", ".join(filter(None, [item["clinician_name_en"], item["clinician_title_en"]])),
            ),
            time=self._local_time(item["starts_at"]),
            status=item["status"],
            ticket=item["ticket"],
            can_check_in=item["can_check_in"],
            place_id=place_id(department),
        )

    def _load_appointments(self) -> bool:
        items = self._call(self.api.appointments)
        if items is None:
            return False
        self.appointments = [self._appointment(item) for item in items]
        return True

    def _load_bills(self) -> bool:
        items = self._call(self.api.bills)
        if items is None:
            return False
        self.bills = [
            BillView(
                id=bill["id"],
                number=bill["number"],
                paid=bill["status"] == "paid",
                total=format_cents(bill["total_cents"], bill["currency"]),
                insurance=format_cents(bill["insurance_cents"], bill["currency"]),
                self_pay=format_cents(bill["self_pay_cents"], bill["currency"]),
                pay_url=bill["pay_url"],
                lines=tuple(
                    BillLineView(
                        description=Bilingual(line["description_zh"], line["description_en"]),
                        quantity=line["quantity"],
                        amount=format_cents(line["amount_cents"], bill["currency"]),
                    )
                    for line in bill["lines"]
                ),
            )
            for bill in items
        ]
        return True

    def _load_reports(self) -> bool:
        items = self._call(self.api.reports)
        if items is None:
            return False
        self._report_json = {item["id"]: item for item in items}
        self.reports = [
            ReportView(
                id=item["id"],
                kind=item["kind"],
                title=Bilingual(item["title_zh"], item["title_en"]),
                reported=parse_time(item["reported_at"])
                .astimezone(self.zone)
                .strftime("%Y-%m-%d %H:%M"),
                abnormal_count=item["abnormal_count"],
                printed_count=item["printed_count"],
            )
            for item in items
        ]
        return True

    def _load_directions(self) -> bool:
        if "appointments" not in self._loaded and not self._load_appointments():
            return False
        directions = []
        for appointment in self.appointments:
            found = self._call(
                lambda a=appointment: self.api.route(self.wayfinding_from, a.place_id)
            )
            if found is None and not self.online:
                return False
            route = self._route(found) if found is not None else None
            directions.append(Directions(appointment.department, appointment.location, route))
        self.directions = directions
        return True

    def _route(self, body: Json) -> RoutePlan | None:
        """The route (loading the floor plans once), or None when the API's answer is unusable."""
        if not self.floor_plans:
            plans = self._call(self.api.floor_plans)
            try:
                self.floor_plans = parse_plan(plans) if plans is not None else {}
            except PlanFormatError as error:
                log.warning("floor plans not drawable: %s", error)
        try:
            return parse_route(body, self.public_url)
        except PlanFormatError as error:
            log.warning("route not usable: %s", error)
            return None

    def can_draw(self, route: RoutePlan) -> bool:
        """True when every floor of route has a floor plan (else its steps are shown as text)."""
        return set(route.floors) <= set(self.floor_plans)

    def check_in(self, appointment_id: int) -> str | None:
        """Check in and print the queue ticket; the ticket, or None when not checked in.

        The API's check-in is idempotent, so after a lost answer the same touch again is safe
        and gives the same number: the screen only shows "checked in" once the API said so.
        """
        if not self.identified:
            self.wipe()
            return None
        answer = self._call(lambda: self.api.check_in(appointment_id))
        if answer is None:
            if self.message is not None and self.message.key == "offline":
                self._say("check_in_unconfirmed", "error")
            return None
        view = self._appointment(answer["appointment"])
        self.appointments = [view if a.id == view.id else a for a in self.appointments]
        ticket = answer["ticket"]
        try:
            document = queue_ticket(
                answer,
                hospital=self.hospital,
                masked_name=self.patient_name,
                issued_at=self.clock(),
            )
        except ValueError as error:
            log.warning("ticket not printable: %s", error)
            self._say("ticket_not_printed", "error", ticket=ticket)
            return ticket
        result = print_ticket(document, self.ticket_printer, language=self.language)
        if result.printed:
            key = "checked_in_again" if answer["repeated"] else "checked_in"
            self._say(key, "ok", ticket=ticket)
        else:
            self._say("ticket_not_printed", "error", ticket=ticket)
        return ticket

    def toggle_report(self, report_id: int) -> None:
        """Select or unselect a report for printing."""
        if report_id in self.selected_reports:
            self.selected_reports.discard(report_id)
        elif report_id in self._report_json:
            self.selected_reports.add(report_id)

    def print_selected(self) -> int:
        """Print the selected reports; how many printed. Each job is confirmed to the API
        only with what the printer said, so a failed job is never recorded as printed."""
        if not self.selected_reports:
            self._say("select_reports_first", "error")
            return 0
        patient = Patient(name=self.patient_name, number=self.patient_number)
        printed = 0
        failure = ""
        for report_id in sorted(self.selected_reports):
            job = self._call(lambda r=report_id: self.api.request_print(r))
            if job is None:
                return printed
            try:
                document = report_document(
                    self._report_json[report_id], hospital=self.hospital, patient=patient
                )
            except (KeyError, ValueError) as error:
                outcome, error_text = "failed", f"not printable: {error}"
            else:
                result = print_report(
                    document, self.report_printer, language=self.language, fonts=self.report_fonts
                )
                outcome, error_text = result.outcome, result.error or ""
            if (
                self._call(
                    lambda j=job, o=outcome, e=error_text: self.api.print_result(j["id"], o, e)
                )
                is None
            ):
                return printed
            self.print_outcomes[report_id] = outcome
            if outcome == "printed":
                printed += 1
            else:
                failure = error_text
        self.selected_reports.clear()
        self._loaded.discard("reports")
        self._load_reports()
        if failure:
            self._say("print_failed", "error", count=printed, reason=failure)
        else:
            self._say("printed", "ok", count=printed)
        return printed

    # --- finish and feedback ---------------------------------------------------------------

    def finish(self) -> None:
        """The patient is done: end the session, forget them, ask for feedback."""
        self.wipe()
        self.rating = 0
        self.screen = "feedback"

    def set_rating(self, rating: int) -> None:
        """Stars 1–5."""
        if not 1 <= rating <= 5:
            raise ValueError("rating is 1 to 5")
        self.rating = rating

    def send_feedback(self, comment: str) -> bool:
        """Store the rating and comment anonymously; then say thank you."""
        if not self.rating:
            self._say("choose_rating", "error")
            return False
        text = comment.strip()[:500]
        if self._call(lambda: self.api.feedback(self.rating, text, self.language)) is None:
            return False
        self.rating = 0
        self._say("feedback_thanks", "ok")
        self.screen = "thanks"
        return True

    def wipe(self) -> None:
        """End the session and drop every patient detail and everything typed."""
        self.api.end_session()
        self._clear_patient()
        self.keypad.clear()
        self.rating = 0
        self.message = None
        self.screen = "welcome"
