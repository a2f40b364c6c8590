"""What the printing documents refuse: tickets with full names, empty reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kiosk.printing.documents import Bilingual
from tests.unit.kiosk.printing.samples import imaging_report, lab_report, queue_ticket


def test_ticket_refuses_an_unmasked_name() -> None:
    with pytest.raises(ValueError, match="masked"):
        replace(queue_ticket(), patient_masked_name="张三丰")


def test_ticket_needs_a_number() -> None:
    with pytest.raises(ValueError, match="number"):
        replace(queue_ticket(), number=" ")


def test_lab_report_needs_items() -> None:
    with pytest.raises(ValueError, match="panel"):
        replace(lab_report(), panels=())


def test_imaging_report_needs_text() -> None:
    with pytest.raises(ValueError, match="findings"):
        replace(imaging_report(), findings=" ", impression="")


def test_bilingual_falls_back_to_the_other_language() -> None:
    assert Bilingual("内科", "").in_("en") == "内科"
    assert Bilingual("内科", "Internal medicine").in_("en") == "Internal medicine"
