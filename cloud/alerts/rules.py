"""Clinical and device alert rules: pure functions from one reading to rule breaches.

Nothing here does I/O. :func:`evaluate` takes one validated reading, the patient's
thresholds and (for the glucose rate rule) the patient's previous glucose reading, and
says which rules the reading breaches and which it shows back in range. Rules come in
*families* ordered from the most to the least specific (hypertensive crisis before
grade-2 hypertension, level-2 before level-1 hypoglycaemia): within a family only the
first breaching rule fires, and the rules it suppresses are neither breached nor clear,
so a crisis reading never also raises the "high" alert and never counts as "in range"
for an open "high" alert.

Sources of the default thresholds (``docs/alerts.md`` has the full table):

* ACC/AHA 2017 Guideline for the Prevention, Detection, Evaluation and Management of High
  Blood Pressure in Adults, section 11.2: hypertensive crisis, SBP > 180 and/or DBP > 120.
* 2023 ESH Guidelines for the management of arterial hypertension, Table 4: grade 2
  hypertension, SBP 160-179 and/or DBP 100-109 mmHg.
* Hypotension: SBP < 90 or DBP < 60 mmHg (the common clinical definition, e.g. NHLBI).
* ADA Standards of Care in Diabetes 2024, section 6 (Glycemic Goals and Hypoglycemia),
  Table 6.4: level 1 hypoglycaemia < 70 mg/dL (3.9 mmol/L), level 2 < 54 mg/dL (3.0 mmol/L).
* Battelino et al., International Consensus on Time in Range, Diabetes Care 2019;42:1593:
  very high > 250 mg/dL (13.9 mmol/L).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from protocol.envelope import (
    BloodPressureReading,
    GlucoseReading,
    SampleLocation,
    SampleType,
    SensorAnnunciation,
)

AnyReading = BloodPressureReading | GlucoseReading


class Severity(StrEnum):
    """How urgently a human must look; the order of the alert list."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


#: Sort rank of each severity (critical first).
SEVERITY_RANK: dict[str, int] = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


class Category(StrEnum):
    """Clinical alerts are about the patient; device alerts about the meter; data about gaps."""

    CLINICAL = "clinical"
    DEVICE = "device"
    DATA = "data"


class RuleId(StrEnum):
    """Every rule caredge evaluates; the value is stored with each alert."""

    BP_CRISIS = "bp.crisis"
    BP_HIGH = "bp.high"
    BP_LOW = "bp.low"
    GLUCOSE_LEVEL2_LOW = "glucose.level2_low"
    GLUCOSE_LEVEL1_LOW = "glucose.level1_low"
    GLUCOSE_HIGH = "glucose.high"
    GLUCOSE_FALLING_FAST = "glucose.falling_fast"
    BP_CUFF_LOOSE = "device.bp_cuff_loose"
    BP_BODY_MOVEMENT = "device.bp_body_movement"
    BP_IMPROPER_POSITION = "device.bp_improper_position"
    GLUCOSE_SENSOR_FAULT = "device.glucose_sensor_fault"
    BATTERY_LOW = "device.battery_low"
    STALE_BLOOD_PRESSURE = "stale.blood_pressure"
    STALE_GLUCOSE = "stale.glucose"


@dataclass(frozen=True)
class RuleInfo:
    """Fixed facts of a rule: severity, category and the reading kind it looks at."""

    severity: Severity
    category: Category
    kind: str | None


RULES: dict[RuleId, RuleInfo] = {
    RuleId.BP_CRISIS: RuleInfo(Severity.CRITICAL, Category.CLINICAL, "blood_pressure"),
    RuleId.BP_HIGH: RuleInfo(Severity.WARNING, Category.CLINICAL, "blood_pressure"),
    RuleId.BP_LOW: RuleInfo(Severity.WARNING, Category.CLINICAL, "blood_pressure"),
    RuleId.GLUCOSE_LEVEL2_LOW: RuleInfo(Severity.CRITICAL, Category.CLINICAL, "glucose"),
    RuleId.GLUCOSE_LEVEL1_LOW: RuleInfo(Severity.WARNING, Category.CLINICAL, "glucose"),
    RuleId.GLUCOSE_HIGH: RuleInfo(Severity.WARNING, Category.CLINICAL, "glucose"),
    RuleId.GLUCOSE_FALLING_FAST: RuleInfo(Severity.WARNING, Category.CLINICAL, "glucose"),
    RuleId.BP_CUFF_LOOSE: RuleInfo(Severity.INFO, Category.DEVICE, "blood_pressure"),
    RuleId.BP_BODY_MOVEMENT: RuleInfo(Severity.INFO, Category.DEVICE, "blood_pressure"),
    RuleId.BP_IMPROPER_POSITION: RuleInfo(Severity.INFO, Category.DEVICE, "blood_pressure"),
    RuleId.GLUCOSE_SENSOR_FAULT: RuleInfo(Severity.INFO, Category.DEVICE, "glucose"),
    RuleId.BATTERY_LOW: RuleInfo(Severity.INFO, Category.DEVICE, None),
    RuleId.STALE_BLOOD_PRESSURE: RuleInfo(Severity.WARNING, Category.DATA, "blood_pressure"),
    RuleId.STALE_GLUCOSE: RuleInfo(Severity.WARNING, Category.DATA, "glucose"),
}

STALE_RULE_BY_KIND: dict[str, RuleId] = {
    "blood_pressure": RuleId.STALE_BLOOD_PRESSURE,
    "glucose": RuleId.STALE_GLUCOSE,
}

#: Glucose annunciations (0x2A18 Sensor Status Annunciation) that make the value unreliable.
#: ``result_too_high/low`` are not faults: the value rules judge the reading itself.
GLUCOSE_FAULTS: frozenset[SensorAnnunciation] = frozenset(
    {
        SensorAnnunciation.SENSOR_MALFUNCTION,
        SensorAnnunciation.SAMPLE_SIZE_INSUFFICIENT,
        SensorAnnunciation.STRIP_INSERTION_ERROR,
        SensorAnnunciation.STRIP_TYPE_INCORRECT,
        SensorAnnunciation.TEMPERATURE_TOO_HIGH,
        SensorAnnunciation.TEMPERATURE_TOO_LOW,
        SensorAnnunciation.READ_INTERRUPTED,
        SensorAnnunciation.GENERAL_DEVICE_FAULT,
        SensorAnnunciation.TIME_FAULT,
    }
)


class ThresholdError(ValueError):
    """Threshold overrides that name no threshold or contradict each other."""


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds of one patient; defaults are the guideline values in the module doc.

    Comparison directions are fixed by the rule: crisis is strictly above (> 180 / > 120),
    grade 2 at or above (>= 160 / >= 100), low strictly below (< 90 / < 60), hypoglycaemia
    strictly below (< 3.0, < 3.9), high glucose strictly above (> 13.9).
    """

    bp_crisis_systolic: float = 180.0
    bp_crisis_diastolic: float = 120.0
    bp_high_systolic: float = 160.0
    bp_high_diastolic: float = 100.0
    bp_low_systolic: float = 90.0
    bp_low_diastolic: float = 60.0
    glucose_level2_low: float = 3.0
    glucose_level1_low: float = 3.9
    glucose_high: float = 13.9
    #: Falling faster than this many mmol/L per hour between consecutive readings alerts.
    #: caredge's default, not a guideline value (CGM "rapidly falling" arrows start at about
    #: 2 mg/dL/min = 6.7 mmol/L/h; sparse finger-stick readings warrant a lower rate).
    glucose_fall_rate_per_hour: float = 3.0
    #: ...but only when the new value is below this (a fall from 18 to 12 after a correction
    #: bolus is intended, not dangerous). Set it to 60 to alert on every fast fall.
    glucose_fall_alert_below: float = 10.0
    #: Readings closer than this are too noisy for a rate (meter error is about ±15 %).
    glucose_fall_min_gap_minutes: float = 15.0
    #: Readings further apart than this are not "consecutive" for the rate rule.
    glucose_fall_max_gap_minutes: float = 240.0

    def merged(self, overrides: Mapping[str, float]) -> Thresholds:
        """These thresholds with overrides applied; ThresholdError if they do not fit."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ThresholdError(f"unknown thresholds {unknown}; known: {sorted(names)}")
        merged = dataclasses.replace(self, **{k: float(v) for k, v in overrides.items()})
        merged.check()
        return merged

    def check(self) -> None:
        """Raise ThresholdError unless the thresholds are positive and correctly ordered."""
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) > 0:
                raise ThresholdError(f"{f.name} must be positive")
        pairs = (
            ("bp_low_systolic", "bp_high_systolic"),
            ("bp_high_systolic", "bp_crisis_systolic"),
            ("bp_low_diastolic", "bp_high_diastolic"),
            ("bp_high_diastolic", "bp_crisis_diastolic"),
            ("glucose_level2_low", "glucose_level1_low"),
            ("glucose_level1_low", "glucose_high"),
            ("glucose_fall_min_gap_minutes", "glucose_fall_max_gap_minutes"),
        )
        for lower, upper in pairs:
            if not getattr(self, lower) < getattr(self, upper):
                raise ThresholdError(f"{lower} must be below {upper}")

    def as_dict(self) -> dict[str, float]:
        """Every threshold by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


DEFAULT_THRESHOLDS = Thresholds()


class GlucosePoint(NamedTuple):
    """A previous glucose value of the patient, for the rate rule (a named tuple: the engine
    builds one per glucose reading)."""

    measured_at: datetime
    mmol_l: float


@dataclass(frozen=True)
class Breach:
    """One rule a reading breaches, with bilingual text for the console and pagers."""

    rule_id: RuleId
    severity: Severity
    category: Category
    message_en: str
    message_zh: str
    value: float | None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """What one reading says: the rules it breaches and the rules it shows in range."""

    breaches: tuple[Breach, ...] = ()
    clear: frozenset[RuleId] = frozenset()
    #: False for control-solution samples: the reading is not the patient's and says nothing.
    relevant: bool = True


def _breach(rule: RuleId, en: str, zh: str, value: float | None, **values: Any) -> Breach:
    info = RULES[rule]
    return Breach(rule, info.severity, info.category, en, zh, value, dict(values))


# Families of threshold rules, most specific first: the first breaching rule of a family
# fires, the rules before it are clear and the rules after it silent.
# Blood pressure "high": ACC/AHA 2017 crisis (> 180 or > 120) before ESH 2023 grade 2
# (>= 160/100); "low": hypotension, SBP < 90 or DBP < 60.
_BP_HIGH = (RuleId.BP_CRISIS, RuleId.BP_HIGH)
_BP_LOW = (RuleId.BP_LOW,)
_GLUCOSE_LOW = (RuleId.GLUCOSE_LEVEL2_LOW, RuleId.GLUCOSE_LEVEL1_LOW)
_GLUCOSE_HIGH = (RuleId.GLUCOSE_HIGH,)

#: Text of each threshold rule, ``{}`` the values as shown; formatted only when it fires.
_TEXT: dict[RuleId, tuple[str, str]] = {
    RuleId.BP_CRISIS: ("Hypertensive crisis: {}", "高血压危象：{}"),
    RuleId.BP_HIGH: ("High blood pressure (grade 2): {}", "血压升高（2级）：{}"),
    RuleId.BP_LOW: ("Low blood pressure: {}", "低血压：{}"),
    RuleId.GLUCOSE_LEVEL2_LOW: ("Level 2 hypoglycaemia: {}", "2级低血糖：{}"),
    RuleId.GLUCOSE_LEVEL1_LOW: ("Level 1 hypoglycaemia: {}", "1级低血糖：{}"),
    RuleId.GLUCOSE_HIGH: ("High glucose: {}", "高血糖：{}"),
}

#: Device faults from the Blood Pressure Measurement status (0x2A35 flags bit 4): rule, status
#: flag, English and Chinese text.
_BP_FAULTS = (
    (RuleId.BP_CUFF_LOOSE, "cuff_too_loose", "Cuff too loose", "袖带过松"),
    (RuleId.BP_BODY_MOVEMENT, "body_movement", "Body movement during measurement",
     "测量时身体移动"),
    (RuleId.BP_IMPROPER_POSITION, "improper_position", "Improper measurement position",
     "测量姿势不正确"),
)  # fmt: skip

# What the common reading (nothing breached, no fault) says, built once rather than per
# reading: the ingest worker evaluates every reading, and most breach nothing.
_BP_IN_RANGE = Evaluation(
    clear=frozenset(
        {*_BP_HIGH, *_BP_LOW, *(fault[0] for fault in _BP_FAULTS), RuleId.STALE_BLOOD_PRESSURE}
    )
)
_GLUCOSE_IN_RANGE = Evaluation(
    clear=frozenset(
        {
            *_GLUCOSE_LOW,
            *_GLUCOSE_HIGH,
            RuleId.GLUCOSE_SENSOR_FAULT,
            RuleId.BATTERY_LOW,
            RuleId.STALE_GLUCOSE,
        }
    )
)
#: ... and with a previous reading that gives a rate, not falling fast.
_GLUCOSE_IN_RANGE_STEADY = Evaluation(clear=_GLUCOSE_IN_RANGE.clear | {RuleId.GLUCOSE_FALLING_FAST})
_IRRELEVANT = Evaluation(relevant=False)


def _cleared(family: tuple[RuleId, ...], fired: RuleId | None) -> tuple[RuleId, ...]:
    """The rules of family a reading shows in range: all, or those before the one that fired."""
    return family if fired is None else family[: family.index(fired)]


def _threshold_breach(rule: RuleId, shown: str, value: float, values: dict[str, Any]) -> Breach:
    en, zh = _TEXT[rule]
    return _breach(rule, en.format(shown), zh.format(shown), value, **values)


def _evaluate_bp(reading: BloodPressureReading, t: Thresholds) -> Evaluation:
    sys_, dia = reading.systolic_mmhg, reading.diastolic_mmhg
    if sys_ > t.bp_crisis_systolic or dia > t.bp_crisis_diastolic:
        high: RuleId | None = RuleId.BP_CRISIS
    elif sys_ >= t.bp_high_systolic or dia >= t.bp_high_diastolic:
        high = RuleId.BP_HIGH
    else:
        high = None
    low = RuleId.BP_LOW if sys_ < t.bp_low_systolic or dia < t.bp_low_diastolic else None
    status = reading.status
    faults = [fault for fault in _BP_FAULTS if getattr(status, fault[1])]
    if high is None and low is None and not faults:
        return _BP_IN_RANGE
    shown = f"{sys_:g}/{dia:g} mmHg"
    values = {"systolic_mmhg": sys_, "diastolic_mmhg": dia}
    breaches = [
        _threshold_breach(rule, shown, sys_, values) for rule in (high, low) if rule is not None
    ]
    breaches += [
        _breach(rule, f"{en} ({reading.device_id})", f"{zh}（{reading.device_id}）", None)
        for rule, _, en, zh in faults
    ]
    clear = {*_cleared(_BP_HIGH, high), *_cleared(_BP_LOW, low)}
    clear.update(fault[0] for fault in _BP_FAULTS if fault not in faults)
    if faults:
        # A disturbed measurement still raises clinical alerts (a missed crisis costs more than
        # a false one) but never counts as "back in range" for an open clinical alert.
        clear -= {r for r in clear if RULES[r].category is Category.CLINICAL}
    clear.add(RuleId.STALE_BLOOD_PRESSURE)
    return Evaluation(tuple(breaches), frozenset(clear))


def _is_control_solution(reading: GlucoseReading) -> bool:
    return (
        reading.sample_type is SampleType.CONTROL_SOLUTION
        or reading.sample_location is SampleLocation.CONTROL_SOLUTION
    )


@lru_cache(maxsize=64)
def _fall_window(min_gap_minutes: float, max_gap_minutes: float) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=min_gap_minutes), timedelta(minutes=max_gap_minutes)


def _fall_rate(
    reading: GlucoseReading, previous: GlucosePoint | None, t: Thresholds
) -> float | None:
    """mmol/L per hour fallen since previous, or None when the pair says nothing."""
    if previous is None:
        return None
    gap = reading.measured_at - previous.measured_at
    shortest, longest = _fall_window(t.glucose_fall_min_gap_minutes, t.glucose_fall_max_gap_minutes)
    if not shortest <= gap <= longest:
        return None
    return (previous.mmol_l - reading.glucose_mmol_l) / (gap.total_seconds() / 3600)


def _evaluate_glucose(
    reading: GlucoseReading, t: Thresholds, previous: GlucosePoint | None
) -> Evaluation:
    if _is_control_solution(reading):
        # A control-solution test checks the meter, not the patient: it never alerts.
        return _IRRELEVANT
    value = reading.glucose_mmol_l
    if value < t.glucose_level2_low:
        low: RuleId | None = RuleId.GLUCOSE_LEVEL2_LOW
    elif value < t.glucose_level1_low:
        low = RuleId.GLUCOSE_LEVEL1_LOW
    else:
        low = None
    high = RuleId.GLUCOSE_HIGH if value > t.glucose_high else None
    rate = _fall_rate(reading, previous, t)
    falling = (
        rate is not None
        and rate > t.glucose_fall_rate_per_hour
        and value < t.glucose_fall_alert_below
    )
    if low is None and high is None and not falling and not reading.annunciations:
        return _GLUCOSE_IN_RANGE if rate is None else _GLUCOSE_IN_RANGE_STEADY
    shown = f"{value:g} mmol/L ({round(value * 18.016)} mg/dL)"
    values = {"glucose_mmol_l": value}
    breaches = [
        _threshold_breach(rule, shown, value, values) for rule in (low, high) if rule is not None
    ]
    clear = {*_cleared(_GLUCOSE_LOW, low), *_cleared(_GLUCOSE_HIGH, high)}
    if rate is not None:
        if falling:
            text = f"{rate:.1f} mmol/L per hour, now {shown}"
            breaches.append(
                _breach(
                    RuleId.GLUCOSE_FALLING_FAST,
                    f"Glucose falling fast: {text}",
                    f"血糖快速下降：每小时 {rate:.1f} mmol/L，当前 {shown}",
                    value,
                    rate_mmol_l_per_hour=round(rate, 2),
                    **values,
                )
            )
        else:
            clear.add(RuleId.GLUCOSE_FALLING_FAST)
    faults = sorted(reading.annunciations & GLUCOSE_FAULTS)
    if faults:
        names = ", ".join(faults)
        breaches.append(
            _breach(
                RuleId.GLUCOSE_SENSOR_FAULT,
                f"Glucose meter fault ({reading.device_id}): {names}",
                f"血糖仪故障（{reading.device_id}）：{names}",
                None,
                annunciations=list(faults),
            )
        )
        # An unreliable value never counts as "back in range" for a clinical alert.
        clear -= {r for r in clear if RULES[r].category is Category.CLINICAL}
    else:
        clear.add(RuleId.GLUCOSE_SENSOR_FAULT)
    if SensorAnnunciation.BATTERY_LOW in reading.annunciations:
        breaches.append(
            _breach(
                RuleId.BATTERY_LOW,
                f"Meter battery low ({reading.device_id})",
                f"血糖仪电量低（{reading.device_id}）",
                None,
            )
        )
    else:
        clear.add(RuleId.BATTERY_LOW)
    clear.add(RuleId.STALE_GLUCOSE)
    return Evaluation(tuple(breaches), frozenset(clear))


def evaluate(
    reading: AnyReading,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    previous_glucose: GlucosePoint | None = None,
) -> Evaluation:
    """The rules reading breaches and the rules it shows back in range."""
    if isinstance(reading, BloodPressureReading):
        return _evaluate_bp(reading, thresholds)
    return _evaluate_glucose(reading, thresholds, previous_glucose)


def battery_breach(device_id: str, level_percent: int, *, below: int = 20) -> Breach | None:
    """A low-battery breach from a Battery Level (0x2A19) value, for gateway status reports."""
    if level_percent >= below:
        return None
    return _breach(
        RuleId.BATTERY_LOW,
        f"Meter battery low ({device_id}): {level_percent} %",
        f"设备电量低（{device_id}）：{level_percent}%",
        float(level_percent),
    )


# --- stale data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """How often a patient should measure one kind; stale after ``max_gap`` without a reading."""

    patient_id: int
    kind: str
    readings_per_day: int
    grace: timedelta
    #: The schedule's start; with no reading yet, staleness counts from here.
    active_since: datetime
    enabled: bool = True

    @property
    def max_gap(self) -> timedelta:
        """The longest allowed time without a reading: the interval plus the grace."""
        return timedelta(days=1) / self.readings_per_day + self.grace


#: Default schedules, on for every patient with a bound meter of the kind: blood pressure
#: every morning (24 h + 2 h grace), glucose four times a day (6 h + 6 h grace, so the
#: night between the bedtime and the fasting reading is not "stale").
DEFAULT_SCHEDULES: dict[str, tuple[int, timedelta]] = {
    "blood_pressure": (1, timedelta(hours=2)),
    "glucose": (4, timedelta(hours=6)),
}


@dataclass(frozen=True)
class StaleFinding:
    """A patient who has not measured kind for longer than the schedule allows."""

    patient_id: int
    kind: str
    last_reading_at: datetime | None
    overdue_since: datetime
    rule_id: RuleId

    def breach(self) -> Breach:
        """The stale-data breach to open an alert with."""
        label_en = {"blood_pressure": "blood pressure", "glucose": "glucose"}[self.kind]
        label_zh = {"blood_pressure": "血压", "glucose": "血糖"}[self.kind]
        if self.last_reading_at is None:
            return _breach(
                self.rule_id, f"No {label_en} reading yet", f"尚无{label_zh}读数", None,
                last_reading_at=None,
            )  # fmt: skip
        shown = self.last_reading_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return _breach(
            self.rule_id,
            f"No {label_en} reading since {shown}",
            f"自 {shown} 起没有{label_zh}读数",
            None,
            last_reading_at=self.last_reading_at.isoformat(),
        )


def stale_patients(
    last_reading_at: Mapping[tuple[int, str], datetime],
    schedules: Iterable[Schedule],
    now: datetime,
) -> list[StaleFinding]:
    """Enabled schedules whose patient has no reading of the kind within max_gap before now."""
    found: list[StaleFinding] = []
    for schedule in schedules:
        if not schedule.enabled:
            continue
        last = last_reading_at.get((schedule.patient_id, schedule.kind))
        reference = max(last, schedule.active_since) if last else schedule.active_since
        due_by = reference + schedule.max_gap
        if now > due_by:
            found.append(
                StaleFinding(
                    schedule.patient_id,
                    schedule.kind,
                    last,
                    due_by,
                    STALE_RULE_BY_KIND[schedule.kind],
                )
            )
    return found
