"""The console feed's timer: wake-ups coalesce, the fallback interval follows the listener's
state, and without LISTEN (SQLite) the feed still delivers on its short poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from cloud.alerts.engine import evaluate_readings
from cloud.api.testing import make_harness
from cloud.db import transaction, utcnow
from cloud.notify.feed_wakeup import FeedWakeup, run_ticks
from cloud.notify.testing import PASSWORD, seed_ward
from cloud.settings import Settings
from protocol.envelope import BloodPressureReading

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 10))


class CountingTick:
    """A tick that takes duration_s and records when each one started (loop time)."""

    def __init__(self, duration_s: float = 0.0) -> None:
        self.duration_s = duration_s
        self.starts: list[float] = []
        self.running = asyncio.Event()

    async def __call__(self) -> None:
        self.starts.append(asyncio.get_running_loop().time())
        self.running.set()
        await asyncio.sleep(self.duration_s)
        self.running.clear()


async def ticks_while(
    tick: CountingTick, wakeup: FeedWakeup, body: Callable[[], Awaitable[None]]
) -> list[float]:
    """Run the ticker during body(); the tick start times relative to the first tick."""
    task = asyncio.create_task(run_ticks(tick, wakeup))
    try:
        while not tick.starts:
            await asyncio.sleep(0.001)
        await body()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return [start - tick.starts[0] for start in tick.starts]


def test_wakeups_before_a_tick_are_taken_once() -> None:
    async def scenario() -> tuple[bool, bool, bool, bool]:
        wakeup = FeedWakeup(poll_s=5, listening_poll_s=5)
        for _ in range(100):
            wakeup.wake()
        pending = await wakeup.wait(5)  # returns at once, the wake-up stays pending
        return pending, wakeup.take(), wakeup.take(), await wakeup.wait(0.01)

    assert run(scenario) == (True, True, False, False)


def test_a_burst_during_a_tick_causes_exactly_one_more_tick() -> None:
    async def scenario() -> list[float]:
        wakeup = FeedWakeup(poll_s=5, listening_poll_s=5)
        tick = CountingTick(duration_s=0.05)

        async def burst() -> None:
            await asyncio.sleep(0.01)  # inside the first tick
            for _ in range(500):
                wakeup.wake()
                await asyncio.sleep(0)
            await asyncio.sleep(0.4)

        return await ticks_while(tick, wakeup, burst)

    starts = run(scenario)
    assert len(starts) == 2, starts
    assert 0.05 <= starts[1] < 0.2  # right after the first tick, not after the 5 s fallback


def test_a_wakeup_between_ticks_starts_one_at_once() -> None:
    async def scenario() -> list[float]:
        wakeup = FeedWakeup(poll_s=5, listening_poll_s=5)
        tick = CountingTick()

        async def later() -> None:
            await asyncio.sleep(0.2)
            wakeup.wake()
            wakeup.wake()
            await asyncio.sleep(0.2)

        return await ticks_while(tick, wakeup, later)

    starts = run(scenario)
    assert len(starts) == 2, starts
    assert 0.2 <= starts[1] < 0.25


def test_fallback_interval_follows_the_listener() -> None:
    async def scenario() -> tuple[list[float], int]:
        wakeup = FeedWakeup(poll_s=0.05, listening_poll_s=0.3)
        tick = CountingTick()
        marks: list[int] = []

        async def body() -> None:
            await asyncio.sleep(0.5)  # not listening: about 10 ticks
            marks.append(len(tick.starts))
            wakeup.listening = True  # wakes the feed once, then every 0.3 s
            await asyncio.sleep(0.5)

        starts = await ticks_while(tick, wakeup, body)
        return starts, marks[0]

    starts, polled = run(scenario)
    assert 5 <= polled <= 11, starts
    listening_ticks = len(starts) - polled
    assert 2 <= listening_ticks <= 3, starts  # the wake-up at 0.5 s, then one at about 0.8 s


def test_listening_state_changes_wake_the_feed() -> None:
    wakeup = FeedWakeup(poll_s=0.075, listening_poll_s=1)
    assert (wakeup.listening, wakeup.interval_s, wakeup.take()) == (False, 0.075, False)
    wakeup.listening = True
    assert (wakeup.interval_s, wakeup.take()) == (1, True)
    wakeup.listening = True
    assert wakeup.take() is False  # no change, no wake-up
    wakeup.listening = False
    assert (wakeup.interval_s, wakeup.take()) == (0.075, True)


@pytest.mark.parametrize(("poll_s", "listening_poll_s"), [(0, 1), (0.075, -1)])
def test_intervals_must_be_positive(poll_s: float, listening_poll_s: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        FeedWakeup(poll_s=poll_s, listening_poll_s=listening_poll_s)


def receive_alert(ws: Any) -> dict[str, Any]:
    for _ in range(20):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == "alert":
            return message
    raise AssertionError("no alert message")


def test_sqlite_has_no_listener_and_the_short_poll_delivers(tmp_path: Path) -> None:
    api = make_harness(
        f"sqlite:///{tmp_path / 'api.db'}",
        console_poll_seconds=0.05,
        console_listen_poll_seconds=30,
    )
    try:
        ward = seed_ward(api.sessions, now=utcnow())
        with TestClient(api.app) as client:
            assert api.app.state.console_wakeup.listening is False
            token = client.post(
                "/api/v1/auth/token", data={"username": "ann", "password": PASSWORD}
            ).json()["access_token"]
            with client.websocket_connect("/api/v1/console/ws") as ws:
                ws.send_json({"type": "auth", "token": token})
                assert ws.receive_json()["type"] == "hello"
                assert ws.receive_json()["type"] == "snapshot"
                reading = BloodPressureReading(
                    gateway_id=ward.gateway_id, device_id=ward.bp_device_id, seq=1,
                    measured_at=utcnow(), systolic_mmhg=192, diastolic_mmhg=118,
                )  # fmt: skip
                with transaction(api.sessions) as session:
                    [change] = evaluate_readings(
                        session, readings=[(reading, ward.patient_id)], now=utcnow()
                    )
                committed = time.perf_counter()
                assert receive_alert(ws)["alert"]["id"] == change.alert_id
                assert time.perf_counter() - committed < 2  # the 0.05 s poll, not the 30 s one
    finally:
        api.close()


@pytest.mark.parametrize("name", ["console_poll_seconds", "console_listen_poll_seconds"])
def test_settings_refuse_non_positive_intervals(name: str) -> None:
    with pytest.raises(ValueError, match="POLL_SECONDS must be positive"):
        Settings(**{name: 0})
