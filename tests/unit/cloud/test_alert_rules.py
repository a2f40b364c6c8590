"""Every alert rule at its boundaries, family precedence, device faults and overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.alerts.rules import (
    DEFAULT_THRESHOLDS,
    Category,
    GlucosePoint,
    RuleId,
    Schedule,
    Severity,
    ThresholdError,
    Thresholds,
    battery_breach,
    evaluate,
    stale_patients,
)
from protocol.envelope import (
    BloodPressureReading,
    BloodPressureStatus,
    GlucoseReading,
    SampleLocation,
    SampleType,
    SensorAnnunciation,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def bp(systolic: float, diastolic: float, **fields: object) -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id="gw1",
        device_id="bp1",
        seq=1,
        measured_at=T0,
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        **fields,  # type: ignore[arg-type]
    )


def glucose(value: float, at: datetime = T0, **fields: object) -> GlucoseReading:
    return GlucoseReading(
        gateway_id="gw1",
        device_id="glu1",
        seq=1,
        measured_at=at,
        glucose_mmol_l=value,
        **fields,  # type: ignore[arg-type]
    )


def fired(reading: BloodPressureReading | GlucoseReading, **kwargs: object) -> set[RuleId]:
    return {b.rule_id for b in evaluate(reading, **kwargs).breaches}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("systolic", "diastolic", "expected"),
    [
        (120, 80, set()),
        (180, 80, {RuleId.BP_HIGH}),  # crisis is strictly above 180
        (181, 80, {RuleId.BP_CRISIS}),  # most specific wins: not crisis + high
        (130, 120, {RuleId.BP_HIGH}),  # crisis is strictly above 120
        (130, 121, {RuleId.BP_CRISIS}),
        (159, 99, set()),
        (160, 80, {RuleId.BP_HIGH}),  # grade 2 is at or above 160
        (140, 100, {RuleId.BP_HIGH}),  # ... or at or above 100
        (90, 60, set()),
        (89, 70, {RuleId.BP_LOW}),
        (100, 59, {RuleId.BP_LOW}),
        (200, 55, {RuleId.BP_CRISIS, RuleId.BP_LOW}),  # two families, one each
    ],
)
def test_blood_pressure_boundaries(
    systolic: float, diastolic: float, expected: set[RuleId]
) -> None:
    assert fired(bp(systolic, diastolic)) == expected


def test_crisis_is_critical_clinical_and_bilingual() -> None:
    (breach,) = evaluate(bp(185, 95)).breaches
    assert breach.severity is Severity.CRITICAL
    assert breach.category is Category.CLINICAL
    assert "185/95 mmHg" in breach.message_en
    assert "高血压危象" in breach.message_zh
    assert breach.value == 185
    assert breach.values == {"systolic_mmhg": 185, "diastolic_mmhg": 95}


def test_crisis_suppresses_high_so_it_neither_fires_nor_clears() -> None:
    evaluation = evaluate(bp(185, 95))
    assert RuleId.BP_HIGH not in evaluation.clear
    assert RuleId.BP_LOW in evaluation.clear
    high = evaluate(bp(170, 95))
    assert RuleId.BP_CRISIS in high.clear  # back below crisis: that alert may clear
    assert RuleId.BP_HIGH not in high.clear


@pytest.mark.parametrize(
    ("value", "expected", "severity"),
    [
        (3.0, {RuleId.GLUCOSE_LEVEL1_LOW}, Severity.WARNING),  # level 2 is strictly below 3.0
        (2.9, {RuleId.GLUCOSE_LEVEL2_LOW}, Severity.CRITICAL),  # not level 2 + level 1
        (3.9, set(), None),
        (3.8, {RuleId.GLUCOSE_LEVEL1_LOW}, Severity.WARNING),
        (13.9, set(), None),
        (14.0, {RuleId.GLUCOSE_HIGH}, Severity.WARNING),
        (6.0, set(), None),
    ],
)
def test_glucose_boundaries(value: float, expected: set[RuleId], severity: Severity | None) -> None:
    breaches = evaluate(glucose(value)).breaches
    assert {b.rule_id for b in breaches} == expected
    if severity is not None:
        assert breaches[0].severity is severity


def test_glucose_message_gives_both_units() -> None:
    (breach,) = evaluate(glucose(2.8)).breaches
    assert "2.8 mmol/L (50 mg/dL)" in breach.message_en
    assert "2级低血糖" in breach.message_zh


def test_control_solution_never_alerts() -> None:
    for reading in (
        glucose(1.5, sample_type=SampleType.CONTROL_SOLUTION),
        glucose(25.0, sample_location=SampleLocation.CONTROL_SOLUTION),
    ):
        evaluation = evaluate(reading)
        assert evaluation.breaches == ()
        assert evaluation.clear == frozenset()
        assert not evaluation.relevant


class TestFallingFast:
    def test_fast_fall_between_consecutive_readings(self) -> None:
        previous = GlucosePoint(T0 - timedelta(hours=1), 9.0)
        assert fired(glucose(5.9, T0), previous_glucose=previous) == {RuleId.GLUCOSE_FALLING_FAST}

    def test_rate_boundary_is_strict(self) -> None:
        previous = GlucosePoint(T0 - timedelta(hours=1), 9.0)
        evaluation = evaluate(glucose(6.0, T0), previous_glucose=previous)  # exactly 3.0/h
        assert evaluation.breaches == ()
        assert RuleId.GLUCOSE_FALLING_FAST in evaluation.clear

    def test_rate_is_per_hour(self) -> None:
        previous = GlucosePoint(T0 - timedelta(minutes=30), 7.0)  # 1.6 in 30 min = 3.2/h
        assert fired(glucose(5.4, T0), previous_glucose=previous) == {RuleId.GLUCOSE_FALLING_FAST}

    def test_no_rate_without_a_usable_previous_reading(self) -> None:
        for previous in (
            None,
            GlucosePoint(T0 - timedelta(minutes=10), 9.0),  # too close: meter noise
            GlucosePoint(T0 - timedelta(hours=5), 20.0),  # too far: not consecutive
        ):
            evaluation = evaluate(glucose(5.0, T0), previous_glucose=previous)
            assert RuleId.GLUCOSE_FALLING_FAST not in evaluation.clear
            assert evaluation.breaches == ()

    def test_fall_from_high_values_is_not_alerted(self) -> None:
        previous = GlucosePoint(T0 - timedelta(hours=1), 18.0)
        assert fired(glucose(12.0, T0), previous_glucose=previous) == set()

    def test_rate_and_level_fire_together(self) -> None:
        previous = GlucosePoint(T0 - timedelta(hours=1), 7.0)
        assert fired(glucose(2.9, T0), previous_glucose=previous) == {
            RuleId.GLUCOSE_LEVEL2_LOW,
            RuleId.GLUCOSE_FALLING_FAST,
        }

    def test_rate_is_configurable(self) -> None:
        previous = GlucosePoint(T0 - timedelta(hours=1), 8.0)
        sensitive = DEFAULT_THRESHOLDS.merged({"glucose_fall_rate_per_hour": 1.5})
        assert fired(glucose(6.0, T0), previous_glucose=previous) == set()
        assert fired(glucose(6.0, T0), thresholds=sensitive, previous_glucose=previous) == {
            RuleId.GLUCOSE_FALLING_FAST
        }


class TestDeviceFaults:
    @pytest.mark.parametrize(
        ("flag", "rule"),
        [
            ("cuff_too_loose", RuleId.BP_CUFF_LOOSE),
            ("body_movement", RuleId.BP_BODY_MOVEMENT),
            ("improper_position", RuleId.BP_IMPROPER_POSITION),
        ],
    )
    def test_bp_status_flags(self, flag: str, rule: RuleId) -> None:
        reading = bp(120, 80, status=BloodPressureStatus(**{flag: True}))
        (breach,) = evaluate(reading).breaches
        assert (breach.rule_id, breach.severity, breach.category) == (
            rule,
            Severity.INFO,
            Category.DEVICE,
        )
        assert "bp1" in breach.message_en

    def test_disturbed_measurement_still_alerts_but_never_clears_clinical_alerts(self) -> None:
        loose = bp(185, 80, status=BloodPressureStatus(cuff_too_loose=True))
        assert fired(loose) == {RuleId.BP_CRISIS, RuleId.BP_CUFF_LOOSE}
        normal_but_moving = evaluate(bp(120, 80, status=BloodPressureStatus(body_movement=True)))
        assert RuleId.BP_CRISIS not in normal_but_moving.clear
        assert RuleId.BP_CUFF_LOOSE in normal_but_moving.clear

    def test_glucose_sensor_faults_and_battery(self) -> None:
        reading = glucose(
            5.5,
            annunciations=frozenset(
                {SensorAnnunciation.STRIP_INSERTION_ERROR, SensorAnnunciation.BATTERY_LOW}
            ),
        )
        evaluation = evaluate(reading)
        assert {b.rule_id for b in evaluation.breaches} == {
            RuleId.GLUCOSE_SENSOR_FAULT,
            RuleId.BATTERY_LOW,
        }
        assert all(b.severity is Severity.INFO for b in evaluation.breaches)
        assert RuleId.GLUCOSE_LEVEL1_LOW not in evaluation.clear  # unreliable value

    def test_result_out_of_range_is_judged_by_value_not_as_a_fault(self) -> None:
        reading = glucose(1.1, annunciations=frozenset({SensorAnnunciation.RESULT_TOO_LOW}))
        assert fired(reading) == {RuleId.GLUCOSE_LEVEL2_LOW}

    def test_battery_level_from_status_reports(self) -> None:
        assert battery_breach("bp1", 20) is None
        breach = battery_breach("bp1", 19)
        assert breach is not None and breach.rule_id is RuleId.BATTERY_LOW


class TestOverrides:
    def test_override_moves_the_boundary(self) -> None:
        relaxed = DEFAULT_THRESHOLDS.merged({"bp_high_systolic": 170})
        assert fired(bp(165, 80), thresholds=relaxed) == set()
        assert fired(bp(170, 80), thresholds=relaxed) == {RuleId.BP_HIGH}
        assert fired(bp(181, 80), thresholds=relaxed) == {RuleId.BP_CRISIS}  # others unchanged

    def test_overrides_merge_with_defaults(self) -> None:
        merged = DEFAULT_THRESHOLDS.merged({"glucose_level1_low": 4.4})
        assert merged.glucose_level1_low == 4.4
        assert merged.glucose_level2_low == 3.0
        assert fired(glucose(4.2), thresholds=merged) == {RuleId.GLUCOSE_LEVEL1_LOW}

    @pytest.mark.parametrize(
        "overrides",
        [
            {"bp_systolic_max": 200},  # unknown name
            {"bp_high_systolic": 190},  # above crisis
            {"glucose_level2_low": 4.0},  # above level 1
            {"glucose_high": -1},
        ],
    )
    def test_invalid_overrides_are_refused(self, overrides: dict[str, float]) -> None:
        with pytest.raises(ThresholdError):
            DEFAULT_THRESHOLDS.merged(overrides)

    def test_defaults_are_the_guideline_values(self) -> None:
        t = Thresholds()
        assert (t.bp_crisis_systolic, t.bp_crisis_diastolic) == (180, 120)
        assert (t.bp_high_systolic, t.bp_high_diastolic) == (160, 100)
        assert (t.bp_low_systolic, t.bp_low_diastolic) == (90, 60)
        assert (t.glucose_level2_low, t.glucose_level1_low, t.glucose_high) == (3.0, 3.9, 13.9)


class TestStale:
    def schedule(self, kind: str = "blood_pressure", **fields: object) -> Schedule:
        values: dict[str, object] = {
            "patient_id": 1,
            "kind": kind,
            "readings_per_day": 1,
            "grace": timedelta(hours=2),
            "active_since": T0 - timedelta(days=10),
        }
        values.update(fields)
        return Schedule(**values)  # type: ignore[arg-type]

    def test_daily_bp_is_stale_after_26_hours(self) -> None:
        last = {(1, "blood_pressure"): T0}
        schedule = self.schedule()
        assert stale_patients(last, [schedule], T0 + timedelta(hours=26)) == []
        (finding,) = stale_patients(last, [schedule], T0 + timedelta(hours=26, seconds=1))
        assert finding.rule_id is RuleId.STALE_BLOOD_PRESSURE
        assert finding.last_reading_at == T0
        assert finding.overdue_since == T0 + timedelta(hours=26)
        expected = T0.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        assert finding.breach().message_en == f"No blood pressure reading since {expected}"

    def test_glucose_four_times_a_day(self) -> None:
        schedule = self.schedule("glucose", readings_per_day=4, grace=timedelta(hours=6))
        assert schedule.max_gap == timedelta(hours=12)
        last = {(1, "glucose"): T0}
        assert stale_patients(last, [schedule], T0 + timedelta(hours=11)) == []
        assert len(stale_patients(last, [schedule], T0 + timedelta(hours=13))) == 1

    def test_never_measured_counts_from_the_schedule_start(self) -> None:
        schedule = self.schedule(active_since=T0)
        assert stale_patients({}, [schedule], T0 + timedelta(hours=25)) == []
        (finding,) = stale_patients({}, [schedule], T0 + timedelta(hours=27))
        assert finding.last_reading_at is None
        breach = finding.breach()
        assert (breach.message_en, breach.message_zh) == (
            "No blood pressure reading yet",
            "尚无血压读数",
        )

    def test_disabled_schedule_is_never_stale(self) -> None:
        schedule = self.schedule(enabled=False)
        assert stale_patients({}, [schedule], T0 + timedelta(days=30)) == []
