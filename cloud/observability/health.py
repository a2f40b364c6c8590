"""Readiness checks shared by the API, the ingest worker and the scheduler.

A check is a callable that returns nothing when its dependency answers and raises otherwise;
:func:`run_checks` turns a set of them into ``(ready, {"name": "ok" | "unavailable: …"})``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine, text

from cloud.tsdb.base import ReadingStore

Check = Callable[[], None]


class NotReadyError(RuntimeError):
    """A dependency does not answer (the message says which and why)."""


def database_check(engine: Engine) -> Check:
    """The SQL database answers ``SELECT 1``."""

    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def store_check(store: ReadingStore) -> Check:
    """The reading store answers its ping."""
    return store.ping


def flag_check(is_set: Callable[[], bool], what: str) -> Check:
    """is_set() is true (e.g. "connected to the broker and subscribed")."""

    def check() -> None:
        if not is_set():
            raise NotReadyError(f"not {what}")

    return check


def heartbeat_check(age_seconds: Callable[[], float], limit_s: float, what: str) -> Check:
    """A loop last went round less than limit_s ago (a stuck loop is not ready)."""

    def check() -> None:
        age = age_seconds()
        if age > limit_s:
            raise NotReadyError(f"{what} last ran {age:.0f}s ago (limit {limit_s:.0f}s)")

    return check


def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run every check; ready only if all pass. Failures are described, never raised."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready
            results[name] = f"unavailable: {exc}"
    return all(state == "ok" for state in results.values()), results
