"""The demo's simulated patients, their meters, and a deterministic story of readings.

Pure domain: no I/O, no wall clock (live readings take a clock function), randomness from
``random.Random`` seeded per device, so the same seed and window give the same readings.

The story, against the default thresholds of docs (ARCHITECTURE.md, "Units and clinical facts"):

- 张伟 Zhang Wei, treated hypertension: morning and evening BP around 142/88, drifting
  up over the last 40 % of the history and ending in a hypertensive crisis, 185/125
  (> 180 or > 120, critical). His live readings stay in crisis. Type 2 diabetes, stable.
- Maria Garcia, type 1 diabetes: four glucose checks a day, varied but in range, then a
  level-2 hypoglycaemia at bedtime, 2.8 mmol/L (< 3.0, critical); again first thing live.
- 李秀英 Li Xiuying: normal BP, but once the cuff was too loose (status bit
  ``cuff_too_loose``, a falsely high 164/101) and she re-measured four minutes later.
- John Smith: normal mornings, the control patient.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Literal

from protocol.envelope import (
    BloodPressureReading,
    BloodPressureStatus,
    GlucoseContext,
    GlucoseReading,
    Meal,
)

#: The hospital's patients live in one time zone; their meters keep local habits.
LOCAL_TZ = timezone(timedelta(hours=8), "UTC+08")
DEFAULT_SEED = 2026

MeterKind = Literal["blood_pressure", "glucose"]
AnyReading = BloodPressureReading | GlucoseReading


class Story(StrEnum):
    """What happens to a demo patient."""

    STABLE = "stable"
    HYPERTENSIVE_CRISIS = "hypertensive_crisis"
    HYPOGLYCAEMIA = "hypoglycaemia"
    LOOSE_CUFF = "loose_cuff"


@dataclass(frozen=True)
class Meter:
    """A BLE meter in a patient's home, registered under the patient's gateway."""

    device_id: str
    kind: MeterKind
    ble_address: str
    model: str
    serial: str


@dataclass(frozen=True)
class DemoPatient:
    """A simulated patient with one home gateway and one or two meters."""

    mrn: str
    name_zh: str
    name_en: str
    birth_date: date
    gateway_id: str
    meters: tuple[Meter, ...]
    story: Story
    diabetic: bool = False

    @property
    def name(self) -> str:
        """The name as registered: Chinese and English when both exist."""
        return f"{self.name_zh} {self.name_en}" if self.name_zh else self.name_en


@dataclass(frozen=True)
class MalformedPayload:
    """A deliberately broken message that the cloud must turn into a dead letter."""

    gateway_id: str
    payload: bytes
    defect: str


Publishable = BloodPressureReading | GlucoseReading | MalformedPayload

_BP_MODEL = "caredge-sim BPM-1810"
_GLUCOSE_MODEL = "caredge-sim GLU-1808"

PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(
        mrn="DEMO-0001",
        name_zh="张伟",
        name_en="Zhang Wei",
        birth_date=date(1951, 3, 14),
        gateway_id="gw-zhang-wei",
        meters=(
            Meter("bp-zhang-wei", "blood_pressure", "C4:7F:51:0A:01:01", _BP_MODEL, "BP-1001"),
            Meter("glu-zhang-wei", "glucose", "C4:7F:51:0A:01:02", _GLUCOSE_MODEL, "GL-1001"),
        ),
        story=Story.HYPERTENSIVE_CRISIS,
        diabetic=True,
    ),
    DemoPatient(
        mrn="DEMO-0002",
        name_zh="",
        name_en="Maria Garcia",
        birth_date=date(1987, 9, 2),
        gateway_id="gw-maria-garcia",
        meters=(
            Meter("glu-maria-garcia", "glucose", "C4:7F:51:0A:02:02", _GLUCOSE_MODEL, "GL-1002"),
        ),
        story=Story.HYPOGLYCAEMIA,
        diabetic=True,
    ),
    DemoPatient(
        mrn="DEMO-0003",
        name_zh="李秀英",
        name_en="Li Xiuying",
        birth_date=date(1946, 12, 25),
        gateway_id="gw-li-xiuying",
        meters=(
            Meter("bp-li-xiuying", "blood_pressure", "C4:7F:51:0A:03:01", _BP_MODEL, "BP-1003"),
        ),
        story=Story.LOOSE_CUFF,
    ),
    DemoPatient(
        mrn="DEMO-0004",
        name_zh="",
        name_en="John Smith",
        birth_date=date(1960, 6, 30),
        gateway_id="gw-john-smith",
        meters=(
            Meter("bp-john-smith", "blood_pressure", "C4:7F:51:0A:04:01", _BP_MODEL, "BP-1004"),
            Meter("glu-john-smith", "glucose", "C4:7F:51:0A:04:02", _GLUCOSE_MODEL, "GL-1004"),
        ),
        story=Story.STABLE,
    ),
)

#: Crisis and hypoglycaemia values of the story (first occurrence is exactly these).
CRISIS_BP = (185.0, 125.0)
HYPO_GLUCOSE = 2.8
LOOSE_CUFF_BP = (164.0, 101.0)
REMEASURE_AFTER = timedelta(minutes=4)

# Local times at which each kind of meter is used, with the meal context of glucose checks.
_BP_TIMES = (time(7, 30), time(20, 30))
_GLUCOSE_TIMES_DIABETIC: tuple[tuple[time, Meal], ...] = (
    (time(6, 45), Meal.FASTING),
    (time(13, 30), Meal.POSTPRANDIAL),
    (time(18, 0), Meal.PREPRANDIAL),
    (time(22, 0), Meal.BEDTIME),
)
_GLUCOSE_TIMES_OTHER: tuple[tuple[time, Meal], ...] = ((time(6, 50), Meal.FASTING),)
_JITTER_MIN = 20
_DRIFT_FROM = 0.6  # Zhang Wei's BP starts rising after 60 % of the history


@dataclass(frozen=True)
class _Slot:
    """A scheduled measurement: when, on which meter, in which meal context, what event."""

    at: datetime
    patient: DemoPatient
    meter: Meter
    meal: Meal | None = None
    event: str = ""


def _mean_arterial(systolic: float, diastolic: float) -> float:
    return round(diastolic + (systolic - diastolic) / 3, 1)


def _bp(
    patient: DemoPatient,
    meter: Meter,
    seq: int,
    at: datetime,
    systolic: float,
    diastolic: float,
    pulse: float,
    *,
    cuff_too_loose: bool = False,
) -> BloodPressureReading:
    return BloodPressureReading(
        gateway_id=patient.gateway_id,
        device_id=meter.device_id,
        seq=seq,
        measured_at=at,
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        map_mmhg=_mean_arterial(systolic, diastolic),
        pulse_bpm=pulse,
        status=BloodPressureStatus(cuff_too_loose=cuff_too_loose),
    )


def _glucose(
    patient: DemoPatient, meter: Meter, seq: int, at: datetime, value: float, meal: Meal | None
) -> GlucoseReading:
    return GlucoseReading(
        gateway_id=patient.gateway_id,
        device_id=meter.device_id,
        seq=seq,
        measured_at=at,
        glucose_mmol_l=round(value, 1),
        meter_seq=seq % 65536,
        context=GlucoseContext(meal=meal) if meal is not None else None,
    )


def _normal_bp(rng: random.Random, at: datetime, base: tuple[float, float]) -> tuple[float, float]:
    evening = 4.0 if at.astimezone(LOCAL_TZ).hour >= 12 else 0.0
    systolic = round(rng.gauss(base[0] + evening, 5))
    diastolic = round(rng.gauss(base[1] + evening / 2, 3))
    return float(systolic), float(diastolic)


def _glucose_value(patient: DemoPatient, rng: random.Random, meal: Meal | None) -> float:
    if not patient.diabetic:
        return rng.uniform(4.6, 5.6)
    if patient.story is Story.HYPOGLYCAEMIA:  # type 1: wider swings
        ranges = {Meal.FASTING: (5.0, 8.0), Meal.POSTPRANDIAL: (6.5, 11.0)}
        low, high = ranges.get(meal, (4.8, 9.0)) if meal is not None else (4.8, 9.0)
        return rng.uniform(low, high)
    return rng.uniform(8.0, 10.2) if meal is Meal.POSTPRANDIAL else rng.uniform(6.2, 7.6)


def _bp_base(patient: DemoPatient) -> tuple[float, float]:
    return {
        Story.HYPERTENSIVE_CRISIS: (142.0, 88.0),
        Story.LOOSE_CUFF: (128.0, 76.0),
    }.get(patient.story, (121.0, 78.0))


@dataclass
class Scenario:
    """Generates the demo's readings; per-device ``seq`` keeps rising across calls.

    ``malformed_every=N`` inserts one deliberately malformed payload after every N readings
    (None: never), cycling through the defects of ``MALFORMED_DEFECTS``.
    """

    patients: Sequence[DemoPatient] = PATIENTS
    seed: int = DEFAULT_SEED
    malformed_every: int | None = None
    _seqs: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _emitted: int = field(default=0, init=False, repr=False)
    _malformed: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.malformed_every is not None and self.malformed_every < 1:
            raise ValueError("malformed_every must be at least 1 (or None)")

    @property
    def meters(self) -> list[tuple[DemoPatient, Meter]]:
        """Every (patient, meter) pair, in patient order."""
        return [(patient, meter) for patient in self.patients for meter in patient.meters]

    # -- history ---------------------------------------------------------------------------

    def history(self, *, start: datetime, end: datetime) -> list[Publishable]:
        """Readings the meters took in [start, end), oldest first, story events included."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        planned: list[tuple[_Slot, float]] = []
        for patient, meter in self.meters:
            slots = self._story_slots(self._schedule(patient, meter, start, end))
            last = max(1, len(slots) - 1)
            planned.extend((slot, index / last) for index, slot in enumerate(slots))
        planned.sort(key=lambda item: (item[0].at, item[0].meter.device_id))
        made: list[Publishable] = []
        rngs: dict[str, random.Random] = {}
        for slot, progress in planned:
            device_id = slot.meter.device_id
            if device_id not in rngs:
                rngs[device_id] = random.Random(f"{self.seed}/{device_id}/history")
            self._emit(made, self._reading(slot, rngs[device_id], progress))
        return made

    def _schedule(
        self, patient: DemoPatient, meter: Meter, start: datetime, end: datetime
    ) -> list[_Slot]:
        rng = random.Random(f"{self.seed}/{meter.device_id}/schedule")
        if meter.kind == "blood_pressure":
            times: tuple[tuple[time, Meal | None], ...] = tuple((t, None) for t in _BP_TIMES)
        elif patient.diabetic:
            times = _GLUCOSE_TIMES_DIABETIC
        else:
            times = _GLUCOSE_TIMES_OTHER
        slots: list[_Slot] = []
        day = start.astimezone(LOCAL_TZ).date() - timedelta(days=1)
        last_day = end.astimezone(LOCAL_TZ).date()
        while day <= last_day:
            for local_time, meal in times:
                jitter = timedelta(minutes=rng.randint(-_JITTER_MIN, _JITTER_MIN))
                at = datetime.combine(day, local_time, LOCAL_TZ) + jitter
                if start <= at < end:
                    slots.append(_Slot(at.astimezone(UTC), patient, meter, meal))
            day += timedelta(days=1)
        return slots

    def _story_slots(self, slots: list[_Slot]) -> list[_Slot]:
        """Mark the story's events on a meter's schedule."""
        if not slots:
            return slots
        patient, meter = slots[0].patient, slots[0].meter
        marked = list(slots)
        if patient.story is Story.HYPERTENSIVE_CRISIS and meter.kind == "blood_pressure":
            marked[-1] = _replace_event(marked[-1], "crisis")
        elif patient.story is Story.HYPOGLYCAEMIA and meter.kind == "glucose":
            bedtimes = [i for i, slot in enumerate(marked) if slot.meal is Meal.BEDTIME]
            if bedtimes:
                index = bedtimes[-2] if len(bedtimes) > 1 else bedtimes[-1]
                marked[index] = _replace_event(marked[index], "hypo")
        elif patient.story is Story.LOOSE_CUFF and meter.kind == "blood_pressure":
            index = len(marked) // 2
            loose = _replace_event(marked[index], "loose_cuff")
            remeasure = _Slot(loose.at + REMEASURE_AFTER, patient, meter, None, "remeasure")
            marked[index : index + 1] = [loose, remeasure]
        return marked

    # -- live ------------------------------------------------------------------------------

    def live(self, clock: Callable[[], datetime]) -> Iterator[Publishable]:
        """An endless round-robin over the meters, each reading taken at clock().

        The first round replays the story: Zhang Wei in crisis, Maria Garcia at 2.8 mmol/L,
        Li Xiuying's loose cuff then her re-measurement; later readings follow each story.
        """
        pending: dict[str, list[str]] = {}
        for patient, meter in self.meters:
            if patient.story is Story.HYPERTENSIVE_CRISIS and meter.kind == "blood_pressure":
                pending[meter.device_id] = ["crisis"]
            elif patient.story is Story.HYPOGLYCAEMIA and meter.kind == "glucose":
                pending[meter.device_id] = ["hypo"]
            elif patient.story is Story.LOOSE_CUFF and meter.kind == "blood_pressure":
                pending[meter.device_id] = ["loose_cuff", "remeasure"]
        rngs = {
            meter.device_id: random.Random(f"{self.seed}/{meter.device_id}/live")
            for _, meter in self.meters
        }
        while True:
            for patient, meter in self.meters:
                events = pending.get(meter.device_id)
                event = events.pop(0) if events else ""
                at = clock()
                if at.tzinfo is None:
                    raise ValueError("the live clock must return timezone-aware datetimes")
                meal = _meal_at(at) if meter.kind == "glucose" and patient.diabetic else None
                slot = _Slot(at.astimezone(UTC), patient, meter, meal, event)
                made: list[Publishable] = []
                self._emit(made, self._reading(slot, rngs[meter.device_id], progress=1.0))
                yield from made

    # -- readings --------------------------------------------------------------------------

    def _next_seq(self, device_id: str) -> int:
        self._seqs[device_id] = self._seqs.get(device_id, 0) + 1
        return self._seqs[device_id]

    def _reading(self, slot: _Slot, rng: random.Random, progress: float) -> AnyReading:
        patient, meter, at = slot.patient, slot.meter, slot.at
        seq = self._next_seq(meter.device_id)
        if meter.kind == "glucose":
            if slot.event == "hypo":
                value = HYPO_GLUCOSE
            else:
                value = _glucose_value(patient, rng, slot.meal)
            return _glucose(patient, meter, seq, at, value, slot.meal)
        pulse = float(round(rng.gauss(72, 5)))
        if slot.event == "crisis":
            return _bp(patient, meter, seq, at, *CRISIS_BP, pulse + 14)
        if slot.event == "loose_cuff":
            return _bp(patient, meter, seq, at, *LOOSE_CUFF_BP, pulse, cuff_too_loose=True)
        if patient.story is Story.HYPERTENSIVE_CRISIS and progress >= 1.0 and slot.event == "":
            # After the crisis the live readings stay in it: > 180 and > 120 every time.
            systolic = float(round(rng.uniform(181, 192)))
            diastolic = float(round(rng.uniform(121, 128)))
            return _bp(patient, meter, seq, at, systolic, diastolic, pulse + 12)
        systolic, diastolic = _normal_bp(rng, at, _bp_base(patient))
        if patient.story is Story.HYPERTENSIVE_CRISIS and progress > _DRIFT_FROM:
            drift = (progress - _DRIFT_FROM) / (1 - _DRIFT_FROM)
            systolic += round(30 * drift)
            diastolic += round(16 * drift)
        return _bp(patient, meter, seq, at, systolic, diastolic, pulse)

    def _emit(self, out: list[Publishable], reading: AnyReading) -> None:
        out.append(reading)
        self._emitted += 1
        if self.malformed_every is not None and self._emitted % self.malformed_every == 0:
            out.append(self._malformed_after(reading))

    def _malformed_after(self, reading: AnyReading) -> MalformedPayload:
        defect = MALFORMED_DEFECTS[self._malformed % len(MALFORMED_DEFECTS)]
        self._malformed += 1
        return MalformedPayload(reading.gateway_id, _MALFORMERS[defect](reading), defect)


def _replace_event(slot: _Slot, event: str) -> _Slot:
    return _Slot(slot.at, slot.patient, slot.meter, slot.meal, event)


def _meal_at(at: datetime) -> Meal:
    hour = at.astimezone(LOCAL_TZ).hour
    if hour < 10:
        return Meal.FASTING
    if hour < 17:
        return Meal.POSTPRANDIAL
    if hour < 21:
        return Meal.PREPRANDIAL
    return Meal.BEDTIME


def _payload(reading: AnyReading, **changes: object) -> bytes:
    data = json.loads(reading.model_dump_json(exclude_none=True))
    data.update(changes)
    return json.dumps(data).encode()


_MALFORMERS: dict[str, Callable[[AnyReading], bytes]] = {
    "truncated JSON": lambda r: _payload(r)[:40],
    "unsupported payload version": lambda r: _payload(r, v=2),
    "value out of range": lambda r: _payload(
        r, **({"systolic_mmhg": 0} if r.kind == "blood_pressure" else {"glucose_mmol_l": -1})
    ),
    "unregistered device": lambda r: _payload(r, device_id=f"{r.device_id}-clone", seq=r.seq),
    "gateway mismatch": lambda r: _payload(r, gateway_id="gw-somebody-else"),
}
#: The kinds of broken payload the demo sends, in the order it sends them.
MALFORMED_DEFECTS: tuple[str, ...] = tuple(_MALFORMERS)
