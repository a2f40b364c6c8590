"""The nurse console in headless Chromium against the real system (issue 4, "Must show").

Mosquitto and the ``caredge api`` / ``ingest`` / ``scheduler`` processes run as in production
(tests/ui/stack.py); readings enter over MQTT in the gateway's envelope; escalation runs on the
scheduler's real clock with a short policy (tier 2 after 0.1 min = 6 s for critical alerts).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from cloud.alerts.models import Alert
from cloud.db import utcnow
from cloud.notify.testing import SeededWard, seed_history, seed_ward
from cloud.oncall.models import EscalationState, Notification
from protocol.envelope import BloodPressureReading, GlucoseReading
from protocol.topics import NurseTopic
from tests.support import publish, reading_messages, wait_until
from tests.ui.console import open_console
from tests.ui.stack import CaredgeStack

pytestmark = [pytest.mark.ui, pytest.mark.integration]

CRITICAL_DELAY = timedelta(minutes=0.1)
#: The scheduler's timers tick every second; the rest is room for a loaded machine.
SCHEDULER_SLACK = timedelta(seconds=5)
#: Live readings use seqs above seed_history's.
LIVE_SEQ = 900_000


@pytest.fixture(scope="module")
def ward(stack: CaredgeStack) -> SeededWard:
    """Cardiology: ann (tier 1) and bob (tier 2, with an MQTT pager), 6 s critical escalation."""
    now = utcnow()
    seeded = seed_ward(
        stack.sessions,
        now=now,
        mqtt_enabled=True,
        critical_delay_minutes=CRITICAL_DELAY.total_seconds() / 60,
    )
    store = stack.store()
    try:
        seed_history(store, seeded, now=now)
    finally:
        store.close()
    return seeded


@pytest.fixture(scope="module")
def other_ward(stack: CaredgeStack) -> SeededWard:
    """A second ward (nurses z-ann, z-bob) with 90 days of history, for the page checks."""
    now = utcnow()
    seeded = seed_ward(stack.sessions, now=now, name="Endocrinology", prefix="z-", gateway_id="gwz")
    store = stack.store()
    try:
        seed_history(store, seeded, now=now)
    finally:
        store.close()
    return seeded


class PagerInbox:
    """A nurse device: subscribed at QoS 1 to the nurse's alert topic, collecting messages."""

    def __init__(self, port: int, nurse_id: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"pager-{nurse_id}"
        )
        topic = str(NurseTopic(str(nurse_id)))
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda _c, _u, message: self.messages.append(
            json.loads(message.payload)
        )
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the pager never subscribed"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def bob_pager(stack: CaredgeStack, ward: SeededWard) -> Iterator[PagerInbox]:
    inbox = PagerInbox(stack.mqtt_port, ward.backup_nurse_id)
    yield inbox
    inbox.close()


def send(stack: CaredgeStack, *readings: BloodPressureReading | GlucoseReading) -> None:
    """Publish readings as the patient's gateway does (QoS 1, waiting for each PUBACK)."""
    assert publish(stack.mqtt_port, reading_messages(readings)) == len(readings)


def alert_row(stack: CaredgeStack, alert_id: int) -> Alert:
    with stack.sessions() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


def notifications_of(stack: CaredgeStack, alert_id: int) -> list[Notification]:
    with stack.sessions() as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.alert_id == alert_id)
                .order_by(Notification.id)
            )
        )


def wait_alert(stack: CaredgeStack, patient_id: int, rule_id: str) -> Alert:
    """The patient's alert of rule_id, once the ingest worker has opened it."""
    found: list[Alert] = []

    def opened() -> bool:
        with stack.sessions() as session:
            found[:] = session.scalars(
                select(Alert).where(Alert.patient_id == patient_id, Alert.rule_id == rule_id)
            ).all()
        return bool(found)

    wait_until(opened, timeout=15)
    return found[0]


def alert_item(page: Page, alert_id: int) -> Any:
    return page.locator(f"#alert-list li[data-alert-id='{alert_id}']")


def wait_new_critical(page: Page, known: set[int]) -> int:
    """The id of the first open critical alert on page not in known (waits for it)."""
    items = page.locator("#alert-list li[data-severity='critical'][data-state='open']")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ids = {int(i) for i in items.evaluate_all("els => els.map(e => e.dataset.alertId)")}
        if ids - known:
            return min(ids - known)
        page.wait_for_timeout(50)
    raise AssertionError("no new critical alert appeared on the console")


def test_live_alert_acknowledge_stops_escalation_and_unacknowledged_escalates(
    stack: CaredgeStack, browser: Browser, ward: SeededWard, bob_pager: PagerInbox
) -> None:
    ann = open_console(browser, stack.api_url, ward.primary_username)
    bob = open_console(browser, stack.api_url, ward.backup_username)
    ann.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # (a) A hypertensive-crisis reading over MQTT appears on the open console without reload.
    send(stack, BloodPressureReading(
        gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=LIVE_SEQ + 1,
        measured_at=utcnow(), systolic_mmhg=192, diastolic_mmhg=118, pulse_bpm=88,
    ))  # fmt: skip
    bp_id = wait_new_critical(ann, set())
    bp_item = alert_item(ann, bp_id)
    expect(bp_item.locator(".message")).to_contain_text("192")
    assert alert_row(stack, bp_id).rule_id == "bp.crisis"
    expect(alert_item(bob, bp_id)).to_be_visible()  # the whole ward sees it

    # (b) Acknowledge with a note: the escalation stops (checked after its time, below).
    bp_item.locator(".note").fill("Called the patient; repeating in 15 min")
    bp_item.locator(".ack").click()
    expect(alert_item(ann, bp_id)).to_have_attribute("data-state", "acknowledged")
    expect(alert_item(ann, bp_id).locator(".details")).to_contain_text("repeating in 15 min")
    expect(alert_item(bob, bp_id)).to_have_attribute("data-state", "acknowledged")  # pushed
    bp = alert_row(stack, bp_id)
    assert bp.acknowledged_by == ward.primary_username
    assert bp.acknowledge_note == "Called the patient; repeating in 15 min"
    assert bp.acknowledged_at is not None
    assert bp.acknowledged_at < bp.opened_at + CRITICAL_DELAY, "acknowledged too late to test"

    # (c) A level-2 hypoglycaemia nobody acknowledges goes to tier 2 (bob) after 6 s.
    send(stack, GlucoseReading(
        gateway_id=ward.gateway_id, device_id=ward.glucose_device_id, seq=LIVE_SEQ + 2,
        measured_at=utcnow(), glucose_mmol_l=2.4,
    ))  # fmt: skip
    glucose_id = wait_new_critical(ann, {bp_id})
    assert alert_row(stack, glucose_id).rule_id == "glucose.level2_low"

    def escalated() -> list[Notification]:
        return [n for n in notifications_of(stack, glucose_id) if n.level == 2]

    wait_until(lambda: bool(escalated()), timeout=(CRITICAL_DELAY + 3 * SCHEDULER_SLACK).seconds)
    glucose = alert_row(stack, glucose_id)
    tier2 = escalated()
    assert {(n.nurse_id, n.event) for n in tier2} == {(ward.backup_nurse_id, "escalated")}, (
        "tier 2 is bob only"
    )
    assert {n.channel for n in tier2} == {"websocket", "mqtt"}
    waited = min(n.created_at for n in tier2) - glucose.opened_at
    assert CRITICAL_DELAY <= waited <= CRITICAL_DELAY + SCHEDULER_SLACK, waited
    expect(alert_item(bob, glucose_id).locator(".paged")).to_have_text("Escalated to you (level 2)")
    wait_until(
        lambda: any(
            m["alert"]["id"] == glucose_id and m["event"] == "escalated" for m in bob_pager.messages
        ),
        timeout=10,
    )
    expect(alert_item(ann, glucose_id)).to_have_attribute("data-state", "open")

    # Back to (b): the scheduler escalated the glucose alert after the crisis alert's own
    # deadline had passed, and left the acknowledged one alone.
    assert min(n.created_at for n in tier2) >= bp.opened_at + CRITICAL_DELAY
    bp_pages = notifications_of(stack, bp_id)
    assert bp_pages and all(n.level == 1 for n in bp_pages), [(n.level, n.event) for n in bp_pages]
    assert not any(m["alert"]["id"] == bp_id for m in bob_pager.messages)
    with stack.sessions() as session:
        state = session.get(EscalationState, bp_id)
        assert state is not None
        assert (state.next_escalation_at, state.stopped_reason) == (None, "acknowledged")
    assert ann.evaluate("window.__sameDocument") is True


def test_chinese_console_and_patient_trend_charts(
    stack: CaredgeStack, browser: Browser, other_ward: SeededWard
) -> None:
    page = open_console(browser, stack.api_url, other_ward.primary_username)
    expect(page.locator("#view-alerts h1")).to_have_text("Active alerts")
    send(stack, GlucoseReading(
        gateway_id=other_ward.gateway_id, device_id=other_ward.glucose_device_id,
        seq=LIVE_SEQ + 1, measured_at=utcnow(), glucose_mmol_l=3.5,
    ))  # fmt: skip
    alert = wait_alert(stack, other_ward.patient_id, "glucose.level1_low")
    item = alert_item(page, alert.id)
    expect(item).to_have_attribute("data-severity", "warning")
    expect(item.locator(".message")).to_have_text(alert.message_en)

    # The language switch re-renders everything in Chinese, without a reload.
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#view-alerts h1")).to_have_text("未关闭的告警")
    expect(page.locator("#lang")).to_have_text("English")
    expect(item.locator(".message")).to_have_text(alert.message_zh)
    assert re.search(r"[\u4e00-\u9fff]", alert.message_zh)
    expect(item.locator(".ack")).to_have_text("确认")
    expect(item.locator(".sev")).to_have_text("警告")

    # The patient page: BP and glucose trends as SVG with threshold bands, meters, alerts.
    item.locator("a.patient").click()
    expect(page.locator("#view-patient")).to_be_visible()
    expect(page.locator("#patient-name")).to_have_text("王芳 Wang Fang")
    bp_chart, glucose_chart = (
        page.locator("#chart-bp svg.trend"),
        page.locator("#chart-glucose svg.trend"),
    )
    expect(bp_chart.locator("path.line.systolic")).to_have_count(1)
    expect(bp_chart.locator("path.line.diastolic")).to_have_count(1)
    for band in ("crisis", "high", "low"):
        expect(bp_chart.locator(f"rect.band.{band}")).to_have_count(1)
    for band in ("crisis", "low", "target", "high"):
        expect(glucose_chart.locator(f"rect.band.{band}")).to_have_count(1)
    expect(bp_chart.locator("text.band-label.crisis")).to_have_text("危象 > 180")
    expect(glucose_chart.locator("path.line.glucose")).to_have_count(1)
    expect(page.locator("#chart-bp").locator("..").locator("figcaption")).to_have_text(
        "血压（mmHg）"
    )
    week = bp_chart.locator("circle.dot.systolic").count()
    assert 5 <= week <= 8, week  # one morning reading a day
    page.click(".range button[data-days='90']")
    expect(page.locator(".range button[data-days='90']")).to_have_class(re.compile("selected"))
    expect(bp_chart.locator("circle.dot.systolic")).not_to_have_count(week)
    assert page.locator("#chart-bp svg.trend circle.dot.systolic").count() > 40
    expect(page.locator("#meter-rows tr")).to_have_count(2)
    expect(page.locator("#meter-rows")).to_contain_text("Omron HEM-7600T")
    expect(page.locator(f"#patient-alerts li[data-alert-id='{alert.id}']")).to_be_visible()

    # Back to English on the patient page: header, charts and meters follow.
    page.click("#lang")
    expect(page.locator("#patient-meta")).to_have_text(
        "z-MRN-0001 · born 1948-05-17 · Ward Endocrinology"
    )
    expect(bp_chart.locator("text.band-label.crisis")).to_have_text("Crisis > 180")
    expect(page.locator("#meter-rows")).to_contain_text("Blood pressure")
