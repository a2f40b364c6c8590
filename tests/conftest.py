"""Shared test configuration: server fixtures live in tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.mosquitto",
    "tests.fixtures.victoria",
    "tests.fixtures.cups",
]
