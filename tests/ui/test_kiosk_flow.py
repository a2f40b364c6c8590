"""The kiosk app under Xvfb against the real API: a patient identifies on the keypad, checks
in, looks at the bill, prints a report and leaves feedback, all by touch."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.hospital.models import Appointment, Department
from cloud.kiosk.models import Feedback, PatientSession
from cloud.patients.models import Patient
from cloud.reports.models import PrintJob
from tests.ui.kiosk_fixtures import display  # noqa: F401  (fixture)
from tests.ui.kiosk_support import Driver, kiosk_backend, run_kiosk

pytestmark = [pytest.mark.ui, pytest.mark.integration]

ZHANG, ZHANG_BIRTH = "1000000001", "19480302"


def tagged(d: Driver, prefix: str) -> list[str]:
    """Tags of the visible widgets whose tag starts with prefix."""
    return sorted(w.tag for w in d.visible() if str(getattr(w, "tag", "")).startswith(prefix))


def keypad_flow(d: Driver) -> Generator[float, None, None]:
    yield from d.until(lambda: d.app.online)
    yield from d.tap("lang_en")
    yield from d.tap("start")
    for key in ZHANG:
        yield from d.tap(f"key_{key}")
    yield from d.tap("field_birth")
    for key in ZHANG_BIRTH:
        yield from d.tap(f"key_{key}")
    d.record("identify")
    yield from d.tap("confirm")
    yield from d.until(lambda: d.screen() == "appointments")
    d.record("appointments")
    # The cardiology card: its check-in button sits beside "Cardiology".
    cardiology = next(
        a.id for a in d.app.controller.appointments if a.department.en == "Cardiology"
    )
    yield from d.tap(f"checkin_{cardiology}")
    yield from d.until(lambda: bool(tagged(d, f"ticket_{cardiology}")))
    d.record("checked_in")
    yield from d.tap("nav_bills")
    d.record("bills")
    yield from d.tap("nav_reports")
    lab = next(r.id for r in d.app.controller.reports if r.kind == "lab")
    yield from d.tap(f"report_{lab}")
    d.record("selected")
    yield from d.tap("print")
    yield from d.until(lambda: d.app.controller.message is not None)
    d.record("printed")
    yield from d.tap("nav_finish")
    d.record("feedback_screen")
    yield from d.tap("star_4")
    yield from d.tap("chip_easy")
    yield from d.tap("send")
    yield from d.until(lambda: d.screen() == "thanks")
    d.record("thanks")
    d.record("all_texts", d.all_texts())


def test_identify_check_in_bills_print_and_feedback_by_touch(display: str, tmp_path: Path) -> None:  # noqa: F811
    prints = tmp_path / "prints"
    with kiosk_backend(tmp_path / "backend") as backend:
        run = run_kiosk(
            "tests.ui.test_kiosk_flow:keypad_flow",
            display=display,
            workdir=tmp_path,
            env={
                "CAREDGE_KIOSK_API_URL": backend.api_url,
                "CAREDGE_KIOSK_TOKEN": backend.demo.kiosk_token,
                "CAREDGE_KIOSK_PRINT_DIR": str(prints),
            },
        )
        assert run.ok, f"{run.error}\n{run.log[-4000:]}"
        screens = run.records
        with backend.sessions()() as session:
            zhang = session.scalars(select(Patient).where(Patient.mrn == ZHANG)).one()
            cardiology = session.scalars(select(Department).where(Department.code == "CARD")).one()
            visit = session.scalars(
                select(Appointment).where(
                    Appointment.patient_id == zhang.id,
                    Appointment.department_id == cardiology.id,
                )
            ).one()
            jobs = list(session.scalars(select(PrintJob)))
            feedback = list(session.scalars(select(Feedback)))
            sessions = list(session.scalars(select(PatientSession)))

    # What the screen showed: masked identity, the ticket, the bill, the print confirmation.
    assert any("Zhang" in t or "张*三" in t for t in screens["appointments"]), screens[
        "appointments"
    ]
    assert not any("张小三" in t for t in screens["appointments"]), "full name on screen"
    assert any("100***0001" in t for t in screens["appointments"])
    assert "Cardiology" in " ".join(screens["appointments"])
    assert "Checked in — number C001" in screens["checked_in"]
    assert any("Your number is C001" in t for t in screens["checked_in"])
    bills = " ".join(screens["bills"])
    assert "You pay ¥92.60" in bills and "Total ¥245.00" in bills and "Insurance ¥152.40" in bills
    assert "✓ Selected" in screens["selected"]
    assert any("1 report(s) printed" in t for t in screens["printed"]), screens["printed"]
    assert not any("100***0001" in t for t in screens["feedback_screen"])
    assert "Thank you. Goodbye!" in screens["thanks"]
    assert not any("张*三" in t or "100***0001" in t or "C001" in t for t in screens["all_texts"])

    # What the API recorded.
    assert (visit.status, visit.queue_number) == ("checked_in", 1)
    assert [(j.status, j.error) for j in jobs] == [("printed", None)]
    assert [(f.rating, f.comment, f.language) for f in feedback] == [(4, "Easy to use", "en")]
    assert sessions and all(s.ended_at is not None for s in sessions), "session left open"
    pdfs = list(prints.glob("*.pdf"))
    tickets = list(prints.glob("*.escpos"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF")
    assert len(tickets) == 1 and b"C001" in tickets[0].read_bytes()
