"""Kiosk logic without a window: keypad, idle timer, elder theme, money, wording, documents.
(Pure tests; they belong in tests/unit/kiosk/ once that folder has an owner.)"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from kiosk.documents import report_document, result_text
from kiosk.i18n import translate
from kiosk.idle import IdleTimer
from kiosk.keypad import Keypad
from kiosk.money import format_cents
from kiosk.printing.documents import Bilingual, Flag, LabReport, Patient
from kiosk.session import place_id
from kiosk.speech import speech_command
from kiosk.theme import ELDER, NORMAL, contrast_ratio, hex_rgb


def test_keypad_builds_number_and_birth_date() -> None:
    keypad = Keypad()
    for key in "10000000012":
        keypad.press(key)
    keypad.press("back")
    keypad.select("birth")
    for key in "19480230":  # 30 February
        keypad.press(key)
    assert keypad.number == "1000000001" and keypad.birth_display() == "1948-02-30"
    assert keypad.birth_date() is None and not keypad.ready()
    keypad.press("clear")
    for key in "194803021":  # the ninth digit is ignored
        keypad.press(key)
    assert keypad.birth_date() == date(1948, 3, 2) and keypad.ready()
    with pytest.raises(ValueError):
        keypad.press("x")
    keypad.clear()
    assert (keypad.number, keypad.birth, keypad.field) == ("", "", "number")


def test_idle_timer_counts_down_and_a_touch_starts_over() -> None:
    timer = IdleTimer(idle=90, countdown=15, last_touch=0)
    assert timer.state(89.9) == "active"
    assert (timer.state(90), timer.seconds_left(90)) == ("countdown", 15)
    assert timer.seconds_left(104.2) == 1 and timer.state(105) == "expired"
    timer.touch(100)
    assert timer.state(105) == "active"


@pytest.mark.parametrize("theme", [NORMAL, ELDER], ids=lambda t: t.name)
def test_every_text_colour_pair_has_at_least_4_5_to_1_contrast(theme: object) -> None:
    for fg, bg in theme.text_pairs():  # type: ignore[attr-defined]
        ratio = contrast_ratio(hex_rgb(getattr(theme, fg)), hex_rgb(getattr(theme, bg)))
        assert ratio >= 4.5, f"{theme.name}: {fg} on {bg} is {ratio:.2f}:1"  # type: ignore[attr-defined]


def test_elder_mode_meets_the_miit_2021_sizes() -> None:
    assert ELDER.body_sp >= 18 and max(ELDER.title_sp, ELDER.huge_sp) >= 30
    assert ELDER.touch_dp >= 60 and ELDER.key_dp >= 60 and NORMAL.touch_dp >= 60
    assert ELDER.items_per_page < NORMAL.items_per_page
    assert contrast_ratio(hex_rgb("#ffffff"), hex_rgb("#000000")) == pytest.approx(21)


def test_money_and_wording() -> None:
    assert format_cents(24500) == "¥245.00" and format_cents(9260) == "¥92.60"
    assert format_cents(123456789, "HKD") == "HKD 1,234,567.89" and format_cents(-5) == "-¥0.05"
    zh, en = (
        json.loads(resources.files("kiosk.i18n").joinpath(f"{lang}.json").read_text("utf-8"))
        for lang in ("zh", "en")
    )
    assert zh.keys() == en.keys()
    assert translate("checked_in", "en", ticket="C001").startswith(
        "Checked in. Your number is C001"
    )
    assert translate("no-such-key", "zh") == "no-such-key"


def test_api_report_becomes_a_printable_lab_report() -> None:
    report = {
        "id": 7,
        "kind": "lab",
        "title_zh": "生化检验报告",
        "title_en": "Clinical chemistry",
        "reported_at": "2026-11-27T01:00:00Z",
        "department_name_zh": "检验科",
        "department_name_en": "Laboratory",
        "items": [
            {"code": "GLU", "name_zh": "空腹血糖", "name_en": "Fasting glucose", "value": 7.80,
             "value_text": None, "unit": "mmol/L", "ref_text": "3.9–6.1", "flag": "H"},
            {"code": "UPRO", "name_zh": "尿蛋白", "name_en": "Urine protein", "value": None,
             "value_text": "阴性", "unit": "", "ref_text": "阴性", "flag": ""},
        ],
    }  # fmt: skip
    document = report_document(
        report, hospital=Bilingual("医院", "Hospital"), patient=Patient("张*三", "100***0001")
    )
    assert isinstance(document, LabReport) and document.report_number == "R00000007"
    glucose, protein = document.panels[0].items
    assert (glucose.result, glucose.flag, protein.result) == ("7.8", Flag.HIGH, "阴性")
    assert result_text({"value": 68.0}) == "68"
    assert place_id({"name_en": "General Internal Medicine"}) == "general-internal-medicine"
    assert speech_command("你好", "zh")[:3] == ["espeak-ng", "-v", "cmn"]
