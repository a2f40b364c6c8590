"""Fixtures of the kiosk UI tests (tests/ui/conftest.py belongs to the console tests)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.ui.kiosk_support import xvfb


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An Xvfb display with Mesa GL for the kiosk windows of one test module."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is missing: run `make services` (apt-get install xvfb libgl1-mesa-dri)")
    with xvfb() as name:
        yield name
