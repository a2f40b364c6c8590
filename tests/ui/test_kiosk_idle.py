"""Idle timeout under Xvfb: the countdown appears, "I'm still here" extends it, and at zero
nothing of the patient stays anywhere in the window; the API session is ended too."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.kiosk.models import PatientSession
from tests.ui.kiosk_fixtures import display  # noqa: F401  (fixture)
from tests.ui.kiosk_support import Driver, kiosk_backend, run_kiosk

pytestmark = [pytest.mark.ui, pytest.mark.integration]


def dialog_open(d: Driver) -> bool:
    return any(getattr(w, "tag", "") == "still_here" for w in d.visible())


def scan_then_walk_away(d: Driver) -> Generator[float, None, None]:
    yield from d.until(lambda: d.app.online)
    yield from d.tap("start")
    yield from d.scan(os.environ["KIOSK_TEST_QR"])
    yield from d.until(lambda: d.screen() == "appointments")
    yield from d.tap("nav_bills")
    d.record("bills")
    d.record("patient_texts", d.app.controller.patient_texts())
    yield from d.until(lambda: dialog_open(d), timeout=10)
    d.record("countdown")
    yield from d.tap("still_here")
    d.record("after_still_here", {"screen": d.screen(), "dialog": dialog_open(d)})
    yield from d.until(lambda: dialog_open(d), timeout=10)
    yield from d.until(lambda: d.screen() == "welcome", timeout=15)
    yield 0.3
    d.record("wiped", d.all_texts())
    d.record(
        "inputs",
        [w.text for w in d.widgets() if w.__class__.__name__ == "KioskInput"]
        + [
            w.text
            for s in d.app.root.ids.screens.screens
            for w in s.walk()
            if w.__class__.__name__ == "KioskInput"
        ],
    )
    yield from d.screenshot(Path(os.environ["KIOSK_TEST_SHOT"]))


def test_idle_timeout_wipes_every_patient_detail(display: str, tmp_path: Path) -> None:  # noqa: F811
    shot = tmp_path / "after-timeout.png"
    with kiosk_backend(tmp_path / "backend") as backend:
        wang_qr = next(
            code for _, number, _, _, code in backend.demo.appointments if number == "1000000002"
        )
        run = run_kiosk(
            "tests.ui.test_kiosk_idle:scan_then_walk_away",
            display=display,
            workdir=tmp_path,
            env={
                "CAREDGE_KIOSK_API_URL": backend.api_url,
                "CAREDGE_KIOSK_TOKEN": backend.demo.kiosk_token,
                "CAREDGE_KIOSK_IDLE_SECONDS": "2",
                "CAREDGE_KIOSK_COUNTDOWN_SECONDS": "3",
                "CAREDGE_KIOSK_PRINT_DIR": str(tmp_path / "prints"),
                "KIOSK_TEST_QR": wang_qr,
                "KIOSK_TEST_SHOT": str(shot),
            },
        )
        assert run.ok, f"{run.error}\n{run.log[-4000:]}"
        with backend.sessions()() as session:
            sessions = list(session.scalars(select(PatientSession)))

    records = run.records
    patient_data = records["patient_texts"]
    # Wang (王芳) identified by QR: masked name and number, her paid bill.
    assert "王*" in patient_data and "100***0002" in patient_data
    assert any(number.startswith("B") for number in patient_data)
    assert any("王*" in t for t in records["bills"])
    assert any("clears in" in t or "秒后将清空" in t for t in records["countdown"])
    assert records["after_still_here"] == {"screen": "bills", "dialog": False}
    # After the timeout nothing of hers is anywhere in the window, hidden screens included.
    leftovers = [t for t in records["wiped"] for data in patient_data if data in t]
    assert leftovers == [], leftovers
    assert all(text == "" for text in records["inputs"])
    assert shot.stat().st_size > 10_000
    assert [s.method for s in sessions] == ["qr"] and sessions[0].ended_at is not None
