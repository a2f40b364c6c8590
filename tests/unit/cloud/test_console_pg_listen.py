"""The PostgreSQL listener without a server: its connection string, and a server that does not
answer (the feed keeps its short poll, the listener keeps retrying and stops when cancelled)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cloud.notify.feed_wakeup import FeedWakeup
from cloud.notify.pg_listen import listen_conninfo, listen_for_changes
from tests.fixtures.ports import free_port


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://ce:s%40cret@db:5433/caredge", "postgresql://ce:s%40cret@db:5433/caredge"),
        ("postgresql://ce@127.0.0.1/caredge?sslmode=require",
         "postgresql://ce@127.0.0.1/caredge?sslmode=require"),
        ("postgresql+psycopg2://db/caredge", "postgresql://db/caredge"),
    ],
)  # fmt: skip
def test_conninfo_from_sqlalchemy_urls(url: str, expected: str) -> None:
    assert listen_conninfo(url) == expected


def test_conninfo_refuses_sqlite() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL, not sqlite"):
        listen_conninfo("sqlite:///var/caredge.db")


def test_unreachable_server_keeps_polling_and_retrying(caplog: pytest.LogCaptureFixture) -> None:
    conninfo = f"postgresql://nobody@127.0.0.1:{free_port()}/none"

    async def scenario() -> tuple[bool, float]:
        wakeup = FeedWakeup(poll_s=0.075, listening_poll_s=1)
        task = asyncio.create_task(
            listen_for_changes(conninfo, wakeup, backoff_first_s=0.02, backoff_max_s=0.05)
        )
        await asyncio.sleep(0.5)  # several refused connections
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return wakeup.listening, wakeup.interval_s

    with caplog.at_level(logging.DEBUG, logger="cloud.notify.pg_listen"):
        assert asyncio.run(scenario()) == (False, 0.075)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    retries = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()  # once per outage
    assert len(retries) >= 3
