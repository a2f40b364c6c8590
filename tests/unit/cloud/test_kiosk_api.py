"""The kiosk API on the demo hospital: identification (QR, patient number), sessions, least
privilege, rate limiting, check-in, bills, reports, printing, feedback and kiosk admin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloud.api.testing import ApiHarness, make_harness
from cloud.audit.models import AuditEntry
from cloud.auth.models import Role
from cloud.db import transaction
from cloud.hospital.demo_seed import DemoHospital, seed_demo
from cloud.kiosk.models import IdentifyFailure
from cloud.reports.models import PrintJob

#: 10:00 in Shanghai on the demo day.
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ZHANG, WANG, OUYANG, WANG_EN, MARY = (f"100000000{n}" for n in range(1, 6))
BIRTH = {ZHANG: "1948-03-02", WANG: "1956-11-20", WANG_EN: "1971-01-09", MARY: "1950-05-30"}


@dataclass
class World:
    """The API over a seeded demo hospital, with a clock the test moves."""

    api: ApiHarness
    demo: DemoHospital
    now: datetime = NOW
    extra_kiosks: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> Any:
        return self.api.client

    def kiosk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.kiosk_token}"}

    def staff(self, role: Role) -> dict[str, str]:
        return self.api.headers(role)

    def qr(self, appointment_id: int) -> str:
        return next(code for i, _, _, _, code in self.demo.appointments if i == appointment_id)

    def appointment_ids(self, number: str) -> list[int]:
        return [i for i, n, _, _, _ in self.demo.appointments if n == number]

    def identify(self, number: str, birth: str | None = None, headers: Any = None) -> Any:
        return self.client.post(
            "/api/v1/kiosk/identify/patient-number",
            json={"patient_number": number, "birth_date": birth or BIRTH[number]},
            headers=headers or self.kiosk(),
        )

    def session(self, number: str) -> dict[str, str]:
        response = self.identify(number)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['session_token']}"}

    def audit(self, action: str) -> list[AuditEntry]:
        with self.api.sessions() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def make_world(database_url: str, **settings: Any) -> World:
    """Migrate, seed the demo hospital at NOW and pin the app's clock."""
    api = make_harness(database_url, **settings)
    with transaction(api.sessions) as session:
        demo = seed_demo(
            session,
            now=NOW,
            zone=api.settings.hospital_zone,
            secret=api.settings.secret_key.get_secret_value(),
        )
    world = World(api=api, demo=demo)
    api.app.state.clock = lambda: world.now
    return world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(
        f"sqlite:///{tmp_path / 'kiosk.db'}", payment_url="https://pay.example.cn/checkout?h=1"
    )
    yield w
    w.api.close()


# --- identification -----------------------------------------------------------------------


def test_qr_code_opens_a_masked_session_of_that_patient(world: World) -> None:
    code = world.qr(world.appointment_ids(ZHANG)[0])
    response = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": code + "\r\n"}, headers=world.kiosk()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_token"].startswith("cps_")
    assert body["method"] == "qr"
    assert body["patient"] == {"name_masked": "张*三", "patient_number_masked": "100***0001"}
    assert datetime.fromisoformat(body["expires_at"]) == NOW + timedelta(minutes=10)
    assert "张小三" not in response.text and ZHANG not in response.text
    (entry,) = world.audit("kiosk.identify")
    assert entry.actor.startswith("kiosk:") and entry.detail["method"] == "qr"


def test_patient_number_and_birth_date_open_a_session(world: World) -> None:
    response = world.identify(f" {WANG_EN} ", BIRTH[WANG_EN])
    assert response.status_code == 200
    assert response.json()["patient"]["name_masked"] == "Wang F***"
    headers = {"Authorization": f"Bearer {response.json()['session_token']}"}
    session = world.client.get("/api/v1/kiosk/session", headers=headers)
    assert session.status_code == 200
    assert session.json()["method"] == "patient_number"


@pytest.mark.parametrize(("number", "birth"), [(ZHANG, "1948-03-03"), ("1000009999", "1948-03-02")])
def test_wrong_number_or_birth_date_is_the_same_401_and_audited(
    world: World, number: str, birth: str
) -> None:
    response = world.identify(number, birth)
    assert response.status_code == 401
    assert response.json() == {
        "detail": "patient number and date of birth do not match our records",
        "code": "no_match",
    }
    (entry,) = world.audit("kiosk.identify_failed")
    assert entry.detail == {"reason": "no_match", "patient_number": number}
    assert world.audit("kiosk.identify") == []


def test_expired_qr_code_says_so(world: World) -> None:
    yesterday = world.appointment_ids(WANG)[-1]
    response = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": world.qr(yesterday)}, headers=world.kiosk()
    )
    assert response.status_code == 401
    assert response.json()["code"] == "qr_expired"
    assert "expired" in response.json()["detail"]


def test_todays_code_expires_when_the_day_ends(world: World) -> None:
    code = world.qr(world.appointment_ids(ZHANG)[0])
    world.now = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    response = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": code}, headers=world.kiosk()
    )
    assert response.json()["code"] == "qr_expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda code: code.replace("A1.1.", "A1.3.", 1),  # another patient's appointment
        lambda code: code[:-2] + ("AA" if not code.endswith("AA") else "BB"),
        lambda code: "1000000001",  # typed a patient number into the scanner field
        lambda code: "A1.999.9999999999.xxxxxxxxxxxxxxxxxxxxxx",
    ],
)
def test_forged_qr_codes_are_refused_and_audited(world: World, mutate: Any) -> None:
    forged = mutate(world.qr(1))
    response = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": forged}, headers=world.kiosk()
    )
    assert response.status_code == 401
    assert response.json()["code"] == "qr_invalid"
    assert len(world.audit("kiosk.identify_failed")) == 1


def test_genuine_code_of_a_deleted_appointment_is_refused(world: World) -> None:
    from cloud.kiosk.qr_tokens import derive_key, make_qr_token

    code = make_qr_token(
        appointment_id=4242,
        expires_at=NOW + timedelta(hours=1),
        key=derive_key(world.api.settings.secret_key.get_secret_value()),
    )
    response = world.client.post(
        "/api/v1/kiosk/identify/qr", json={"code": code}, headers=world.kiosk()
    )
    assert response.status_code == 401 and response.json()["code"] == "qr_invalid"


@pytest.mark.parametrize(
    "body",
    [
        {"patient_number": ZHANG},
        {"patient_number": ZHANG, "birth_date": "02/03/1948"},
        {"patient_number": "", "birth_date": "1948-03-02"},
        {"patient_number": "1' OR '1'='1", "birth_date": "1948-03-02"},
        {"patient_number": ZHANG, "birth_date": "1948-03-02", "role": "admin"},
    ],
)
def test_malformed_identification_is_422(world: World, body: dict[str, str]) -> None:
    response = world.client.post(
        "/api/v1/kiosk/identify/patient-number", json=body, headers=world.kiosk()
    )
    assert response.status_code == 422


# --- rate limiting ------------------------------------------------------------------------


def test_patient_number_locks_after_five_failures_across_kiosks_then_unlocks(
    world: World,
) -> None:
    other = world.client.post(
        "/api/v1/kiosks", json={"name": "lobby-2"}, headers=world.staff(Role.ADMIN)
    ).json()["device_token"]
    other_headers = {"Authorization": f"Bearer {other}"}
    for attempt in range(5):
        headers = world.kiosk() if attempt % 2 else other_headers
        world.now = NOW + timedelta(minutes=attempt)
        assert world.identify(ZHANG, "1948-01-01", headers=headers).status_code == 401
    locked = world.identify(ZHANG)  # even the right birth date is refused now
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked"
    assert int(locked.headers["Retry-After"]) == locked.json()["retry_after_s"] == 11 * 60
    assert len(world.audit("kiosk.identify_locked")) == 1
    assert world.identify(WANG).status_code == 200  # other patients are unaffected
    world.now = NOW + timedelta(minutes=15, seconds=1)  # the first failure left the window
    assert world.identify(ZHANG).status_code == 200


def test_kiosk_locks_after_its_limit_whatever_the_numbers(tmp_path: Path) -> None:
    world = make_world(f"sqlite:///{tmp_path / 'k.db'}", kiosk_max_failures_per_kiosk=3)
    try:
        for n in range(3):
            assert world.identify(f"20000000{n:02}", "1950-01-01").status_code == 401
        response = world.client.post(
            "/api/v1/kiosk/identify/qr", json={"code": world.qr(1)}, headers=world.kiosk()
        )
        assert response.status_code == 429
    finally:
        world.api.close()


def test_rate_limit_state_lives_in_sql_and_survives_a_new_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    world = make_world(url)
    for _ in range(5):
        world.identify(ZHANG, "1900-01-01")
    world.api.close()
    replica = make_harness(url)  # a restarted process or another API replica
    replica.app.state.clock = lambda: NOW
    try:
        response = replica.client.post(
            "/api/v1/kiosk/identify/patient-number",
            json={"patient_number": ZHANG, "birth_date": BIRTH[ZHANG]},
            headers=world.kiosk(),
        )
        assert response.status_code == 429
        with replica.sessions() as session:
            assert len(session.scalars(select(IdentifyFailure)).all()) == 5
    finally:
        replica.close()


# --- sessions and least privilege ---------------------------------------------------------

PATIENT_ENDPOINTS = [
    ("GET", "/api/v1/kiosk/session"),
    ("GET", "/api/v1/kiosk/appointments"),
    ("POST", "/api/v1/kiosk/appointments/1/check-in"),
    ("GET", "/api/v1/kiosk/bills"),
    ("GET", "/api/v1/kiosk/bills/1"),
    ("GET", "/api/v1/kiosk/reports"),
    ("GET", "/api/v1/kiosk/reports/1"),
    ("POST", "/api/v1/kiosk/reports/1/print-jobs"),
    ("DELETE", "/api/v1/kiosk/session"),
]
STAFF_PATIENT_DATA = [
    "/api/v1/patients",
    "/api/v1/appointments",
    "/api/v1/appointments/1",
    "/api/v1/appointments/1/qr-token",
    "/api/v1/bills",
    "/api/v1/bills/1",
    "/api/v1/reports",
    "/api/v1/reports/1",
    "/api/v1/reports/1/print-jobs",
]


@pytest.mark.parametrize(("method", "path"), PATIENT_ENDPOINTS)
@pytest.mark.parametrize("caller", ["none", "kiosk", "nurse", "admin", "forged"])
def test_patient_endpoints_need_a_patient_session(
    world: World, method: str, path: str, caller: str
) -> None:
    headers = {
        "none": {},
        "kiosk": world.kiosk(),
        "nurse": world.staff(Role.NURSE),
        "admin": world.staff(Role.ADMIN),
        "forged": {"Authorization": "Bearer cps_" + "A" * 43},
    }[caller]
    response = world.client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", STAFF_PATIENT_DATA)
def test_kiosk_token_and_patient_session_read_no_staff_patient_data(
    world: World, path: str
) -> None:
    for headers in (world.kiosk(), world.session(ZHANG)):
        assert world.client.get(path, headers=headers).status_code == 401
    assert world.client.get(path, headers=world.staff(Role.NURSE)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/kiosk/me"),
        ("GET", "/api/v1/kiosk/departments"),
        ("POST", "/api/v1/kiosk/feedback"),
        ("POST", "/api/v1/kiosk/identify/qr"),
        ("POST", "/api/v1/kiosk/identify/patient-number"),
        ("POST", "/api/v1/kiosk/print-jobs/1/result"),
    ],
)
def test_device_endpoints_need_the_kiosk_token(world: World, method: str, path: str) -> None:
    for headers in ({}, world.staff(Role.ADMIN), world.session(ZHANG)):
        assert world.client.request(method, path, headers=headers).status_code == 401


def test_a_patient_session_sees_only_its_own_patient(world: World) -> None:
    zhang = world.session(ZHANG)
    others = [world.appointment_ids(WANG)[0], world.appointment_ids(MARY)[0]]
    for appointment_id in others:
        response = world.client.post(
            f"/api/v1/kiosk/appointments/{appointment_id}/check-in", headers=zhang
        )
        assert response.status_code == 404
    with world.api.sessions() as session:
        from cloud.billing.models import Bill
        from cloud.reports.models import Report

        foreign_bills = session.scalars(select(Bill.id).where(Bill.patient_id != 1)).all()
        foreign_reports = session.scalars(select(Report.id).where(Report.patient_id != 1)).all()
    for bill_id in foreign_bills:
        assert world.client.get(f"/api/v1/kiosk/bills/{bill_id}", headers=zhang).status_code == 404
    for report_id in foreign_reports:
        path = f"/api/v1/kiosk/reports/{report_id}"
        assert world.client.get(path, headers=zhang).status_code == 404
        assert world.client.post(f"{path}/print-jobs", headers=zhang).status_code == 404
    appointments = world.client.get("/api/v1/kiosk/appointments", headers=zhang).json()
    assert [a["id"] for a in appointments] == sorted(world.appointment_ids(ZHANG), reverse=True)
    for listing in ("bills", "reports"):
        assert world.client.get(f"/api/v1/kiosk/{listing}", headers=zhang).json()


def test_session_expires_ends_and_a_new_patient_replaces_the_old(world: World) -> None:
    zhang = world.session(ZHANG)
    world.now = NOW + timedelta(minutes=10)
    expired = world.client.get("/api/v1/kiosk/session", headers=zhang)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    world.now = NOW
    zhang = world.session(ZHANG)
    assert world.client.delete("/api/v1/kiosk/session", headers=zhang).status_code == 204
    ended = world.client.get("/api/v1/kiosk/bills", headers=zhang)
    assert ended.status_code == 401 and "ended" in ended.json()["detail"]
    zhang = world.session(ZHANG)
    wang = world.session(WANG)  # the next patient at the same kiosk
    assert world.client.get("/api/v1/kiosk/bills", headers=zhang).status_code == 401
    assert world.client.get("/api/v1/kiosk/bills", headers=wang).status_code == 200
    assert len(world.audit("kiosk.session_end")) == 1


def test_revoking_a_kiosk_stops_its_token_and_its_sessions(world: World) -> None:
    zhang = world.session(ZHANG)
    admin = world.staff(Role.ADMIN)
    kiosk_id = world.client.get("/api/v1/kiosk/me", headers=world.kiosk()).json()["id"]
    revoked = world.client.patch(
        f"/api/v1/kiosks/{kiosk_id}", json={"active": False}, headers=admin
    )
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert world.client.get("/api/v1/kiosk/me", headers=world.kiosk()).status_code == 401
    assert world.client.get("/api/v1/kiosk/bills", headers=zhang).status_code == 401
    world.client.patch(f"/api/v1/kiosks/{kiosk_id}", json={"active": True}, headers=admin)
    assert world.client.get("/api/v1/kiosk/me", headers=world.kiosk()).status_code == 200


# --- check-in -----------------------------------------------------------------------------


def test_check_in_is_idempotent_and_numbers_count_per_department(world: World) -> None:
    zhang = world.session(ZHANG)
    cardiology_zhang = world.appointment_ids(ZHANG)[0]
    lab_zhang = world.appointment_ids(ZHANG)[1]
    first = world.client.post(
        f"/api/v1/kiosk/appointments/{cardiology_zhang}/check-in", headers=zhang
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["ticket"], body["queue_number"], body["repeated"]) == ("C001", 1, False)
    assert body["appointment"]["status"] == "checked_in"
    assert body["appointment"]["department"]["location_en"] == "Outpatient Building, 3F, Zone A"
    assert body["appointment"]["clinician_name_zh"] == "李建国"
    again = world.client.post(
        f"/api/v1/kiosk/appointments/{cardiology_zhang}/check-in", headers=zhang
    ).json()
    assert (again["ticket"], again["repeated"]) == ("C001", True)
    lab = world.client.post(f"/api/v1/kiosk/appointments/{lab_zhang}/check-in", headers=zhang)
    assert lab.json()["ticket"] == "L001"
    card_wang = world.appointment_ids(WANG_EN)[0]
    wang_en = world.session(WANG_EN)  # the next patient; Zhang's session ends
    second = world.client.post(f"/api/v1/kiosk/appointments/{card_wang}/check-in", headers=wang_en)
    assert second.json()["ticket"] == "C002"
    assert len(world.audit("appointments.check_in")) == 3
    assert len(world.audit("appointments.check_in_repeated")) == 1
    zhang = world.session(ZHANG)
    listed = world.client.get("/api/v1/kiosk/appointments", headers=zhang).json()
    assert {a["ticket"] for a in listed} == {"C001", "L001"}
    assert not any(a["can_check_in"] for a in listed)


def test_queue_numbers_restart_each_day(world: World) -> None:
    world.client.post(
        f"/api/v1/kiosk/appointments/{world.appointment_ids(ZHANG)[0]}/check-in",
        headers=world.session(ZHANG),
    )
    world.now = NOW + timedelta(days=1)
    mary = world.session(MARY)
    tomorrow = world.appointment_ids(MARY)[-1]
    response = world.client.post(f"/api/v1/kiosk/appointments/{tomorrow}/check-in", headers=mary)
    assert response.json()["ticket"] == "C001"


def test_check_in_is_refused_on_another_day_or_when_cancelled(world: World) -> None:
    wang = world.session(WANG)
    yesterday = world.appointment_ids(WANG)[-1]
    refused = world.client.post(f"/api/v1/kiosk/appointments/{yesterday}/check-in", headers=wang)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_today"
    today = world.appointment_ids(WANG)[0]
    world.client.post(
        f"/api/v1/appointments/{today}/cancel", headers=world.staff(Role.NURSE)
    ).raise_for_status()
    cancelled = world.client.post(f"/api/v1/kiosk/appointments/{today}/check-in", headers=wang)
    assert (cancelled.status_code, cancelled.json()["code"]) == (409, "cancelled")
    assert world.audit("appointments.check_in") == []


# --- bills --------------------------------------------------------------------------------


def test_bills_show_lines_insurance_self_pay_and_a_pay_link(world: World) -> None:
    bills = world.client.get("/api/v1/kiosk/bills", headers=world.session(ZHANG)).json()
    (bill,) = bills
    assert bill["status"] == "unpaid"
    assert [line["description_zh"] for line in bill["lines"]][0] == "心血管内科主任医师诊查费"
    assert bill["total_cents"] == 5000 + 8800 + 6000 + 2 * 2350
    assert bill["insurance_cents"] == 3000 + 6160 + 4200 + 1880
    assert bill["self_pay_cents"] == bill["total_cents"] - bill["insurance_cents"] == 9260
    assert bill["pay_url"] == (
        f"https://pay.example.cn/checkout?h=1&bill={bill['number']}&amount=92.60&currency=CNY"
    )
    assert "patient_id" not in bill
    paid = world.client.get("/api/v1/kiosk/bills", headers=world.session(WANG)).json()
    assert paid[0]["status"] == "paid" and paid[0]["pay_url"] is None


# --- reports and printing -----------------------------------------------------------------


def test_reports_carry_units_ranges_flags_and_imaging_text(world: World) -> None:
    reports = world.client.get("/api/v1/kiosk/reports", headers=world.session(ZHANG)).json()
    lab = next(r for r in reports if r["kind"] == "lab")
    items = {i["code"]: i for i in lab["items"]}
    assert (items["GLU"]["value"], items["GLU"]["unit"], items["GLU"]["flag"]) == (
        7.8,
        "mmol/L",
        "H",
    )
    assert items["GLU"]["ref_text"] == "3.9–6.1"
    assert items["CREA"]["flag"] == "" and items["LDL-C"]["ref_text"] == "<3.4"
    assert items["UPRO"]["value_text"] == "阴性 (−)"
    assert lab["abnormal_count"] == 3  # glucose, HbA1c, LDL
    assert lab["department_name_zh"] == "检验科"
    imaging = next(r for r in reports if r["kind"] == "imaging")
    assert imaging["modality"] == "DR" and "未见明显异常" in imaging["impression"]


def _print(world: World, headers: dict[str, str], report_id: int) -> int:
    response = world.client.post(f"/api/v1/kiosk/reports/{report_id}/print-jobs", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "requested"
    return int(response.json()["id"])


def test_a_failed_print_never_marks_the_report_printed(world: World) -> None:
    zhang = world.session(ZHANG)
    report_id = world.client.get("/api/v1/kiosk/reports", headers=zhang).json()[0]["id"]
    job = _print(world, zhang, report_id)
    result = f"/api/v1/kiosk/print-jobs/{job}/result"
    failed = world.client.post(
        result, json={"outcome": "failed", "error": "paper jam"}, headers=world.kiosk()
    )
    assert failed.status_code == 200
    assert (failed.json()["status"], failed.json()["error"]) == ("failed", "paper jam")
    late = world.client.post(result, json={"outcome": "printed"}, headers=world.kiosk())
    assert late.status_code == 409
    report = world.client.get(f"/api/v1/kiosk/reports/{report_id}", headers=zhang).json()
    assert (report["printed_count"], report["last_printed_at"]) == (0, None)
    world.now = NOW + timedelta(minutes=1)
    retry = _print(world, zhang, report_id)
    world.client.delete("/api/v1/kiosk/session", headers=zhang)  # idle timeout mid-print
    printed = world.client.post(
        f"/api/v1/kiosk/print-jobs/{retry}/result",
        json={"outcome": "printed"},
        headers=world.kiosk(),
    )
    assert printed.status_code == 200
    again = world.client.post(
        f"/api/v1/kiosk/print-jobs/{retry}/result",
        json={"outcome": "printed"},
        headers=world.kiosk(),
    )
    assert again.status_code == 200  # a retried confirmation is harmless
    history = world.client.get(
        f"/api/v1/reports/{report_id}/print-jobs", headers=world.staff(Role.NURSE)
    ).json()
    assert [j["status"] for j in history] == ["failed", "printed"]
    staff_view = world.client.get(
        f"/api/v1/reports/{report_id}", headers=world.staff(Role.NURSE)
    ).json()
    assert staff_view["printed_count"] == 1
    assert datetime.fromisoformat(staff_view["last_printed_at"]) == NOW + timedelta(minutes=1)
    actions = [e.action for e in world.audit("reports.printed") + world.audit("reports.failed")]
    assert sorted(actions) == ["reports.failed", "reports.printed"]
    assert len(world.audit("reports.print_requested")) == 2


def test_only_the_requesting_kiosk_confirms_its_print_job(world: World) -> None:
    zhang = world.session(ZHANG)
    job = _print(world, zhang, 1)
    other = world.client.post(
        "/api/v1/kiosks", json={"name": "lobby-2"}, headers=world.staff(Role.ADMIN)
    ).json()["device_token"]
    response = world.client.post(
        f"/api/v1/kiosk/print-jobs/{job}/result",
        json={"outcome": "printed"},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 404
    bad = world.client.post(
        f"/api/v1/kiosk/print-jobs/{job}/result", json={"outcome": "done"}, headers=world.kiosk()
    )
    assert bad.status_code == 422
    with world.api.sessions() as session:
        assert session.get(PrintJob, job).status == "requested"  # type: ignore[union-attr]


# --- the device, feedback and kiosk admin -------------------------------------------------


def test_kiosk_reads_itself_and_the_department_directory(world: World) -> None:
    me = world.client.get("/api/v1/kiosk/me", headers=world.kiosk())
    assert me.status_code == 200 and me.json()["name"] == "lobby-1"
    assert "device_token" not in me.json() and "token_hash" not in me.json()
    departments = world.client.get("/api/v1/kiosk/departments", headers=world.kiosk()).json()
    assert [d["code"] for d in departments] == ["CARD", "ENDO", "GIM", "LAB", "RAD"]
    assert departments[0]["location_zh"] == "门诊楼 3 层 A 区"


def test_feedback_is_stored_and_summarised_for_admins(world: World) -> None:
    for rating, comment in ((5, "很方便"), (3, ""), (4, "Quick")):
        response = world.client.post(
            "/api/v1/kiosk/feedback",
            json={"rating": rating, "comment": comment, "language": "zh"},
            headers=world.kiosk(),
        )
        assert response.status_code == 201
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": 5, "comment": "x" * 501}, {}):
        response = world.client.post("/api/v1/kiosk/feedback", json=bad, headers=world.kiosk())
        assert response.status_code == 422
    page = world.client.get("/api/v1/feedback", headers=world.staff(Role.ADMIN)).json()
    assert page["total"] == 3 and page["mean_rating"] == 4.0
    assert [f["comment"] for f in page["items"]] == ["Quick", "", "很方便"]
    assert world.client.get("/api/v1/feedback", headers=world.staff(Role.NURSE)).status_code == 403
    assert world.client.get("/api/v1/feedback", headers=world.kiosk()).status_code == 401


def test_kiosk_admin_register_list_rename_rotate(world: World) -> None:
    admin = world.staff(Role.ADMIN)
    created = world.client.post(
        "/api/v1/kiosks", json={"name": "ward-3", "location": "住院部 3 楼"}, headers=admin
    )
    assert created.status_code == 201
    kiosk = created.json()
    token = kiosk["device_token"]
    assert (
        world.client.post("/api/v1/kiosks", json={"name": "ward-3"}, headers=admin).status_code
        == 409
    )
    listed = world.client.get("/api/v1/kiosks", headers=admin).json()
    assert [k["name"] for k in listed] == ["lobby-1", "ward-3"]
    assert all("device_token" not in k for k in listed)
    renamed = world.client.patch(
        f"/api/v1/kiosks/{kiosk['id']}", json={"location": "住院部 4 楼"}, headers=admin
    )
    assert renamed.json()["location"] == "住院部 4 楼"
    rotated = world.client.post(f"/api/v1/kiosks/{kiosk['id']}/token", headers=admin).json()
    old = world.client.get("/api/v1/kiosk/me", headers={"Authorization": f"Bearer {token}"})
    assert old.status_code == 401
    new = {"Authorization": f"Bearer {rotated['device_token']}"}
    assert world.client.get("/api/v1/kiosk/me", headers=new).status_code == 200
    assert world.client.patch("/api/v1/kiosks/999", json={}, headers=admin).status_code == 404
    assert len(world.audit("kiosks.rotate_token")) == 1
    for role in (Role.NURSE, Role.KIOSK, Role.GATEWAY):
        for method, path in (("GET", "/api/v1/kiosks"), ("POST", "/api/v1/kiosks")):
            response = world.client.request(
                method, path, json={"name": "x"}, headers=world.staff(role)
            )
            assert response.status_code == 403
