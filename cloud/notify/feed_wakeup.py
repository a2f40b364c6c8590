"""When the console feed ticks: at once when woken (PostgreSQL NOTIFY), else on a fallback timer.

A wake-up only says "something may have changed"; the tick reads what changed from SQL, so a
lost wake-up costs at most one fallback interval, never a message. Wake-ups coalesce: any
number of them before a tick starts are served by that one tick, so a burst of notifications
(an ingest batch touching many alerts) costs one or two ticks, not one per notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

#: Pause after every tick, so that back-to-back wake-ups cannot keep the SQL busy without rest.
MIN_TICK_GAP_S = 0.005


class FeedWakeup:
    """The feed's timer: woken by a listener, else every ``interval_s`` (event loop use only).

    ``interval_s`` is ``listening_poll_s`` while a listener reports it is listening (a lost
    notification is unlikely, so the timer is only a safety net) and ``poll_s`` otherwise.
    """

    def __init__(self, *, poll_s: float, listening_poll_s: float) -> None:
        if poll_s <= 0 or listening_poll_s <= 0:
            raise ValueError("feed poll intervals must be positive")
        self._poll_s = poll_s
        self._listening_poll_s = listening_poll_s
        self._listening = False
        self._woken = asyncio.Event()

    @property
    def listening(self) -> bool:
        """True while a listener delivers change notifications."""
        return self._listening

    @listening.setter
    def listening(self, value: bool) -> None:
        if value != self._listening:
            self._listening = value
            self.wake()  # the timer changes: let the feed pick up the new interval now

    @property
    def interval_s(self) -> float:
        """The fallback interval between ticks now."""
        return self._listening_poll_s if self._listening else self._poll_s

    def wake(self) -> None:
        """Ask for a tick as soon as possible; repeated calls before it starts add nothing."""
        self._woken.set()

    def take(self) -> bool:
        """Clear the pending wake-up (a tick is starting); True if there was one."""
        woken = self._woken.is_set()
        self._woken.clear()
        return woken

    async def wait(self, timeout_s: float) -> bool:
        """Until woken or timeout_s passed; True if woken. The wake-up stays pending."""
        if self._woken.is_set():
            return True
        try:
            await asyncio.wait_for(self._woken.wait(), max(timeout_s, 0.0))
        except TimeoutError:
            return False
        return True


async def run_ticks(
    tick: Callable[[], Awaitable[None]],
    wakeup: FeedWakeup,
    *,
    min_gap_s: float = MIN_TICK_GAP_S,
) -> None:
    """Await tick() again and again until cancelled: right after a wake-up, else every
    ``wakeup.interval_s`` (start to start). A wake-up that arrives during a tick is served by
    the next one, which starts after a pause of min_gap_s."""
    loop = asyncio.get_running_loop()
    while True:
        wakeup.take()
        started = loop.time()
        await tick()
        await asyncio.sleep(min_gap_s)
        await wakeup.wait(wakeup.interval_s - (loop.time() - started))
