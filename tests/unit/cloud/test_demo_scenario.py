"""The demo scenario: deterministic, and clinically what its docstring promises."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cloud.demo.scenario import (
    CRISIS_BP,
    HYPO_GLUCOSE,
    LOCAL_TZ,
    MALFORMED_DEFECTS,
    PATIENTS,
    REMEASURE_AFTER,
    MalformedPayload,
    Publishable,
    Scenario,
    Story,
)
from cloud.devices.schemas import DeviceCreate, DeviceKind, GatewayCreate
from protocol.envelope import (
    BloodPressureReading,
    GlucoseReading,
    PayloadError,
    decode_reading,
    encode_reading,
)

END = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
START = END - timedelta(days=14)

# Default thresholds (ARCHITECTURE.md, "Units and clinical facts").
CRISIS_SYSTOLIC, CRISIS_DIASTOLIC = 180, 120
HIGH_SYSTOLIC, HIGH_DIASTOLIC = 160, 100
LEVEL2_HYPO, LEVEL1_HYPO, HIGH_GLUCOSE = 3.0, 3.9, 13.9


def _patient(story: Story):  # type: ignore[no-untyped-def]
    return next(p for p in PATIENTS if p.story is story)


def _readings(items: list[Publishable]) -> list[BloodPressureReading | GlucoseReading]:
    return [item for item in items if not isinstance(item, MalformedPayload)]


def _of(items: list[Publishable], device_id: str) -> list[BloodPressureReading | GlucoseReading]:
    return [r for r in _readings(items) if r.device_id == device_id]


def _device(story: Story, kind: str) -> str:
    return next(m.device_id for m in _patient(story).meters if m.kind == kind)


def _wire(items: list[Publishable]) -> list[bytes]:
    return [i.payload if isinstance(i, MalformedPayload) else encode_reading(i) for i in items]


def _ticking_clock(start: datetime, step_s: float = 3.0) -> Callable[[], datetime]:
    now = [start]

    def clock() -> datetime:
        now[0] += timedelta(seconds=step_s)
        return now[0]

    return clock


# -- determinism and envelope -----------------------------------------------------------


def test_same_seed_same_history_other_seed_other_values() -> None:
    first = Scenario(malformed_every=9).history(start=START, end=END)
    again = Scenario(malformed_every=9).history(start=START, end=END)
    other = Scenario(seed=7, malformed_every=9).history(start=START, end=END)
    assert _wire(first) == _wire(again)
    assert _wire(first) != _wire(other)


def test_live_is_deterministic_with_the_same_clock() -> None:
    def take(scenario: Scenario) -> list[bytes]:
        return _wire(list(itertools.islice(scenario.live(_ticking_clock(END)), 40)))

    assert take(Scenario(malformed_every=5)) == take(Scenario(malformed_every=5))


def test_history_is_inside_the_window_ordered_and_aware() -> None:
    readings = _readings(Scenario().history(start=START, end=END))
    times = [r.measured_at for r in readings]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and START <= t < END for t in times)


def test_every_meter_reads_on_every_day() -> None:
    readings = _readings(Scenario().history(start=START, end=END))
    days = defaultdict(set)
    for reading in readings:
        days[reading.device_id].add(reading.measured_at.astimezone(LOCAL_TZ).date())
    meters = {m.device_id for p in PATIENTS for m in p.meters}
    assert set(days) == meters
    assert all(len(seen) >= 13 for seen in days.values())


def test_seq_rises_per_device_from_history_into_live() -> None:
    scenario = Scenario()
    items = scenario.history(start=START, end=END)
    items += list(itertools.islice(scenario.live(_ticking_clock(END)), 30))
    by_device: dict[str, list[int]] = defaultdict(list)
    for reading in _readings(items):
        by_device[reading.device_id].append(reading.seq)
    for seqs in by_device.values():
        assert seqs == list(range(1, len(seqs) + 1))


def test_every_reading_survives_the_wire() -> None:
    for reading in _readings(Scenario().history(start=START, end=END)):
        assert decode_reading(encode_reading(reading)) == reading


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Scenario().history(start=START.replace(tzinfo=None), end=END)
    live = Scenario().live(lambda: datetime(2026, 11, 20, 4, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        next(live)


# -- the clinical story ------------------------------------------------------------------


def test_zhang_wei_drifts_into_a_hypertensive_crisis() -> None:
    bp = _of(
        Scenario().history(start=START, end=END),
        _device(Story.HYPERTENSIVE_CRISIS, "blood_pressure"),
    )
    assert isinstance(bp[-1], BloodPressureReading)
    assert (bp[-1].systolic_mmhg, bp[-1].diastolic_mmhg) == CRISIS_BP
    assert bp[-1].systolic_mmhg > CRISIS_SYSTOLIC and bp[-1].diastolic_mmhg > CRISIS_DIASTOLIC
    before = bp[:-1]
    assert all(
        r.systolic_mmhg <= CRISIS_SYSTOLIC and r.diastolic_mmhg <= CRISIS_DIASTOLIC for r in before
    )
    half = len(before) // 2
    early = sum(r.systolic_mmhg for r in before[:half]) / half
    late = sum(r.systolic_mmhg for r in before[-4:]) / 4
    assert late - early > 10


def test_zhang_wei_stays_in_crisis_live() -> None:
    device = _device(Story.HYPERTENSIVE_CRISIS, "blood_pressure")
    live = list(itertools.islice(Scenario().live(_ticking_clock(END)), 60))
    bp = _of(live, device)
    assert len(bp) >= 5
    assert all(
        r.systolic_mmhg > CRISIS_SYSTOLIC and r.diastolic_mmhg > CRISIS_DIASTOLIC for r in bp
    )


def test_maria_garcia_has_one_level2_hypoglycaemia() -> None:
    glucose = _of(Scenario().history(start=START, end=END), _device(Story.HYPOGLYCAEMIA, "glucose"))
    lows = [r for r in glucose if r.glucose_mmol_l < LEVEL1_HYPO]
    assert [r.glucose_mmol_l for r in lows] == [HYPO_GLUCOSE]
    assert HYPO_GLUCOSE < LEVEL2_HYPO
    assert lows[0].context is not None and lows[0].context.meal == "bedtime"
    assert all(r.glucose_mmol_l < HIGH_GLUCOSE for r in glucose)


def test_li_xiuying_loose_cuff_then_a_normal_remeasurement() -> None:
    bp = _of(Scenario().history(start=START, end=END), _device(Story.LOOSE_CUFF, "blood_pressure"))
    loose = [i for i, r in enumerate(bp) if r.status.cuff_too_loose]
    assert len(loose) == 1
    artefact, remeasure = bp[loose[0]], bp[loose[0] + 1]
    assert remeasure.measured_at - artefact.measured_at == REMEASURE_AFTER
    assert not remeasure.status.cuff_too_loose
    assert remeasure.systolic_mmhg < 140 and remeasure.diastolic_mmhg < 90


def test_normal_mornings_for_everyone_else() -> None:
    items = Scenario().history(start=START, end=END)
    for reading in _readings(items):
        patient = next(p for p in PATIENTS if p.gateway_id == reading.gateway_id)
        if isinstance(reading, GlucoseReading):
            if reading.glucose_mmol_l != HYPO_GLUCOSE:
                assert LEVEL1_HYPO <= reading.glucose_mmol_l < HIGH_GLUCOSE
            continue
        if patient.story is Story.HYPERTENSIVE_CRISIS or reading.status.cuff_too_loose:
            continue
        assert 90 <= reading.systolic_mmhg < HIGH_SYSTOLIC
        assert 60 <= reading.diastolic_mmhg < HIGH_DIASTOLIC
        assert reading.map_mmhg is not None and reading.pulse_bpm is not None
        assert reading.diastolic_mmhg < reading.map_mmhg < reading.systolic_mmhg


def test_the_first_live_round_replays_the_story() -> None:
    meters = sum(len(p.meters) for p in PATIENTS)
    first_round = _readings(list(itertools.islice(Scenario().live(_ticking_clock(END)), meters)))
    by_device = {r.device_id: r for r in first_round}
    crisis = by_device[_device(Story.HYPERTENSIVE_CRISIS, "blood_pressure")]
    hypo = by_device[_device(Story.HYPOGLYCAEMIA, "glucose")]
    loose = by_device[_device(Story.LOOSE_CUFF, "blood_pressure")]
    assert isinstance(crisis, BloodPressureReading) and isinstance(loose, BloodPressureReading)
    assert (crisis.systolic_mmhg, crisis.diastolic_mmhg) == CRISIS_BP
    assert isinstance(hypo, GlucoseReading) and hypo.glucose_mmol_l == HYPO_GLUCOSE
    assert loose.status.cuff_too_loose


def test_live_readings_take_the_clock_time() -> None:
    clock = _ticking_clock(END, step_s=2)
    readings = _readings(list(itertools.islice(Scenario().live(clock), 12)))
    assert [r.measured_at for r in readings] == [
        END + timedelta(seconds=2 * (i + 1)) for i in range(12)
    ]


# -- malformed payloads ------------------------------------------------------------------


def test_one_malformed_payload_after_every_n_readings() -> None:
    items = Scenario(malformed_every=4).history(start=START, end=END)
    malformed = [i for i, item in enumerate(items) if isinstance(item, MalformedPayload)]
    assert malformed and all((index + 1) % 5 == 0 for index in malformed)
    assert {items[i].defect for i in malformed} == set(MALFORMED_DEFECTS)  # type: ignore[union-attr]
    assert not any(
        isinstance(i, MalformedPayload) for i in Scenario().history(start=START, end=END)
    )


def test_every_malformed_payload_would_be_a_dead_letter() -> None:
    registered = {(p.gateway_id, m.device_id) for p in PATIENTS for m in p.meters}
    items = Scenario(malformed_every=1).history(start=START, end=END)
    for item in items:
        if not isinstance(item, MalformedPayload):
            continue
        try:
            reading = decode_reading(item.payload)
        except PayloadError:
            continue
        # Valid JSON readings are rejected later: wrong gateway or unregistered device.
        assert (
            reading.gateway_id != item.gateway_id
            or (reading.gateway_id, reading.device_id) not in registered
        )


def test_malformed_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Scenario(malformed_every=0)


# -- the cast ----------------------------------------------------------------------------


def test_patients_register_cleanly() -> None:
    assert {p.story for p in PATIENTS} == set(Story)
    assert any(p.name_zh for p in PATIENTS) and all(p.name_en for p in PATIENTS)
    assert len({p.mrn for p in PATIENTS}) == len({p.gateway_id for p in PATIENTS}) == len(PATIENTS)
    addresses = [m.ble_address for p in PATIENTS for m in p.meters]
    assert len(set(addresses)) == len(addresses)
    for patient in PATIENTS:
        GatewayCreate(id=patient.gateway_id)
        for meter in patient.meters:
            created = DeviceCreate(
                id=meter.device_id,
                kind=DeviceKind(meter.kind),
                ble_address=meter.ble_address,
                model=meter.model,
                serial=meter.serial,
            )
            assert created.ble_address == meter.ble_address
