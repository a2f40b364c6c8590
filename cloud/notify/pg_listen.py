"""PostgreSQL LISTEN for the console feed: wake it when an alert or a websocket page commits.

The triggers of migration ``0005_alert_notify`` send ``NOTIFY caredge_alerts, '<alert id>'``
after a row of ``alerts`` is inserted or updated and after a ``websocket`` row of
``notifications`` is inserted; PostgreSQL delivers it when (and only if) the transaction
commits. One asyncio psycopg connection per API process listens and calls
:meth:`FeedWakeup.wake`; it never blocks the event loop. When the connection fails, the feed
falls back to its short poll and the listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from sqlalchemy.engine import URL, make_url

from cloud.notify.feed_wakeup import FeedWakeup

log = logging.getLogger(__name__)

#: The channel the triggers notify (cloud/migrations/versions/0005_alert_notify.py).
CHANNEL = "caredge_alerts"
#: How often an idle listening connection is checked (a silent peer is found within this).
HEALTH_CHECK_S = 10.0
CONNECT_TIMEOUT_S = 5
#: How the listening session shows in ``pg_stat_activity``.
APPLICATION_NAME = "caredge-console-listen"
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


def listen_conninfo(url: URL | str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy PostgreSQL URL (any driver)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"LISTEN needs PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(
    conninfo: str,
    wakeup: FeedWakeup,
    *,
    health_check_s: float = HEALTH_CHECK_S,
    backoff_first_s: float = BACKOFF_FIRST_S,
    backoff_max_s: float = BACKOFF_MAX_S,
) -> None:
    """LISTEN until cancelled, waking the feed on every notification; reconnect with backoff."""
    delay = backoff_first_s
    failing = False
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=APPLICATION_NAME,
            ) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                # Changes committed while nobody listened are read by the tick this wakes.
                wakeup.listening = True
                log.info("console feed: listening on %s", CHANNEL)
                failing, delay = False, backoff_first_s
                await _relay(connection, wakeup, health_check_s)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            wakeup.listening = False
            if not failing:
                log.warning("console feed: LISTEN %s unavailable (%s); polling every %.3f s "
                            "and retrying", CHANNEL, exc, wakeup.interval_s)  # fmt: skip
            else:
                log.debug("console feed: LISTEN retry failed: %s", exc)
            failing = True
        except BaseException:
            wakeup.listening = False
            raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff_max_s)


async def _relay(
    connection: psycopg.AsyncConnection[Any], wakeup: FeedWakeup, health_check_s: float
) -> None:
    """Wake the feed per notification; between bursts, check the connection is alive."""
    while True:
        async for _ in connection.notifies(timeout=health_check_s):
            wakeup.wake()
        await asyncio.wait_for(connection.execute("SELECT 1"), health_check_s)
