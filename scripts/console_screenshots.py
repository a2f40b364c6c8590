"""Screenshots of the nurse console from the real system, for docs/console/.

Starts Mosquitto and ``caredge api`` / ``ingest`` / ``scheduler`` on a fresh SQLite file
(tests/ui/stack.py), seeds a ward with three patients and 90 days of history, lets the
scheduler raise its stale-data alerts, then publishes readings over MQTT as the patients'
gateways would (a hypertensive crisis, a level-2 hypoglycaemia, a high BP measured with a loose
cuff) while nurse ann's console is open, so her pages arrive live. Bob acknowledges one alert.
Headless Debian Chromium (Playwright) then writes alerts-{en,zh}.png and patient-{en,zh}.png.

Run: ``.venv/bin/python scripts/console_screenshots.py [--out docs/console]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.alerts.models import Alert  # noqa: E402
from cloud.db import utcnow  # noqa: E402
from cloud.notify.testing import (  # noqa: E402
    PASSWORD,
    SeededWard,
    seed_history,
    seed_patient,
    seed_ward,
)
from protocol.envelope import (  # noqa: E402
    BloodPressureReading,
    BloodPressureStatus,
    GlucoseReading,
)
from tests.support import publish, reading_messages  # noqa: E402
from tests.ui.console import CHROMIUM, open_console  # noqa: E402
from tests.ui.stack import CaredgeStack  # noqa: E402

log = logging.getLogger("console_screenshots")

LIVE_SEQ = 900_000
ACK_NOTE = "Rechecking after 10 min rest / 休息10分钟后复测"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "console", help="folder for the PNGs"
    )
    parser.add_argument("--width", type=int, default=1280, help="viewport width (px)")
    parser.add_argument("--height", type=int, default=800, help="viewport height (px)")
    parser.add_argument(
        "--chromium", default=CHROMIUM, help="Chromium executable (never downloaded)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the stack's database and logs here (default: temp)"
    )
    args = parser.parse_args(argv)
    if args.width < 320 or args.height < 240:
        parser.error("the viewport must be at least 320x240")
    if not Path(args.chromium).exists():
        parser.error(f"no Chromium at {args.chromium}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="caredge-shots-") as temp:
        workdir = args.workdir or Path(temp)
        with CaredgeStack(workdir) as stack:
            patients = seed(stack)
            written = shoot(stack, patients, args)
    for path in written:
        print(path)
    return 0


def seed(stack: CaredgeStack) -> list[SeededWard]:
    """Cardiology with ann and bob on call and three patients with 90 days of history."""
    now = utcnow()
    first = seed_ward(stack.sessions, now=now)
    patients = [
        first,
        seed_patient(stack.sessions, first, now=now, mrn="MRN-0002", name="李建国 Li Jianguo",
                     birth_date=date(1952, 11, 3), gateway_id="gw2"),
        seed_patient(stack.sessions, first, now=now, mrn="MRN-0003", name="张秀英 Zhang Xiuying",
                     birth_date=date(1944, 2, 21), gateway_id="gw3"),
    ]  # fmt: skip
    store = stack.store()
    try:
        for patient in patients:
            seed_history(store, patient, now=now)
    finally:
        store.close()
    # No reading has reached the ingest yet: the scheduler opens a stale-data alert per meter.
    wait_for(lambda: count_alerts(stack, "stale.") == 2 * len(patients), "stale-data alerts")
    return patients


def shoot(stack: CaredgeStack, patients: list[SeededWard], args: argparse.Namespace) -> list[Path]:
    wang, li, zhang = patients
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
        try:
            page = open_console(
                browser,
                stack.api_url,
                wang.primary_username,
                viewport={"width": args.width, "height": args.height},
                timeout_ms=30_000,
            )
            raise_alerts(stack, wang, li, zhang)
            acknowledge_as(stack, wang.backup_username, rule="bp.high", patient_id=zhang.patient_id)
            expect(page.locator("#alert-list li")).to_have_count(5)
            expect(page.locator("#alert-list li[data-state='acknowledged']")).to_have_count(1)
            # Every open alert shows its page (the stale ones after the console came up).
            paged = page.locator("#alert-list li[data-state='open'] .paged:visible")
            expect(paged).to_have_count(4)
            written.append(save(page, args.out / "alerts-en.png"))
            page.click("#lang")
            expect(page.locator("#view-alerts h1")).to_have_text("未关闭的告警")
            written.append(save(page, args.out / "alerts-zh.png"))
            page.locator(f"#alert-list li a[href='#/patient/{wang.patient_id}']").first.click()
            wait_charts(page, "危象 > 180")
            written.append(save(page, args.out / "patient-zh.png"))
            page.click("#lang")
            wait_charts(page, "Crisis > 180")
            written.append(save(page, args.out / "patient-en.png"))
        finally:
            browser.close()
    return written


def raise_alerts(stack: CaredgeStack, wang: SeededWard, li: SeededWard, zhang: SeededWard) -> None:
    """Readings over MQTT: two critical alerts, a high BP with a loose cuff, normal values."""

    def bp(ward: SeededWard, seq: int, sys_: float, dia: float,
           cuff_too_loose: bool = False) -> BloodPressureReading:  # fmt: skip
        return BloodPressureReading(
            gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=LIVE_SEQ + seq,
            measured_at=utcnow(), systolic_mmhg=sys_, diastolic_mmhg=dia, pulse_bpm=78,
            status=BloodPressureStatus(cuff_too_loose=cuff_too_loose),
        )  # fmt: skip

    def glucose(ward: SeededWard, seq: int, value: float) -> GlucoseReading:
        return GlucoseReading(
            gateway_id=ward.gateway_id, device_id=ward.glucose_device_id, seq=LIVE_SEQ + seq,
            measured_at=utcnow(), glucose_mmol_l=value,
        )  # fmt: skip

    readings: list[BloodPressureReading | GlucoseReading] = [
        glucose(wang, 1, 8.2),
        bp(wang, 2, 186, 112),
        bp(li, 3, 138, 86),
        glucose(li, 4, 2.6),
        bp(zhang, 5, 166, 102),
        bp(zhang, 6, 164, 101, cuff_too_loose=True),
    ]
    for reading in readings:  # one at a time: the alerts open in this order
        assert publish(stack.mqtt_port, reading_messages([reading]), client_id="shots") == 1
        time.sleep(0.3)
    wait_for(lambda: count_alerts(stack, "", active=True) == 5, "the five active alerts")


def acknowledge_as(stack: CaredgeStack, username: str, *, rule: str, patient_id: int) -> None:
    """Acknowledge the patient's active alert of rule through the API, as username."""
    with stack.sessions() as session:
        alert_id = session.scalars(
            select(Alert.id).where(Alert.rule_id == rule, Alert.patient_id == patient_id)
        ).one()
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD}).encode()
    with urllib.request.urlopen(f"{stack.api_url}/api/v1/auth/token", form) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(
        f"{stack.api_url}/api/v1/alerts/{alert_id}/acknowledge",
        data=json.dumps({"note": ACK_NOTE}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def wait_charts(page: Page, crisis_label: str) -> None:
    """Both charts drawn with data, in the language whose crisis band reads crisis_label."""
    expect(page.locator("#chart-bp text.band-label.crisis")).to_have_text(crisis_label)
    for chart in ("#chart-bp", "#chart-glucose"):
        expect(page.locator(f"{chart} svg.trend circle.dot").first).to_be_attached()


def save(page: Page, path: Path) -> Path:
    page.mouse.move(0, 0)  # no hover state in the picture
    page.screenshot(path=path, full_page=True)
    log.info("wrote %s", path)
    return path


def count_alerts(stack: CaredgeStack, rule_prefix: str, *, active: bool = False) -> int:
    with stack.sessions() as session:
        query = select(Alert.id).where(Alert.rule_id.startswith(rule_prefix))
        if active:
            query = query.where(Alert.state.in_(("open", "acknowledged")))
        return len(session.scalars(query).all())


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"console_screenshots: no {what} after {timeout:.0f} s")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
