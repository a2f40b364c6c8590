"""Pure conversion of parsed GATT measurements into wire-contract readings (protocol.envelope).

Rules, in the order they are applied:

1. Control solution — a glucose record with type 10 or sample location 4 raises
   :class:`ControlSolutionSample` (carrying the record): it is a meter check, not a patient
   value, and the gateway records it as a device event outside clinical data.
2. Primary values — systolic and diastolic, or the glucose concentration, must be numbers:
   NaN, NRes, ±INFINITY or the reserved SFLOAT, or an absent concentration, raise
   :class:`MeasurementUnusable`. Special values are never turned into numbers.
3. Codes the contract cannot express — a reserved pulse-rate-range value (3), a reserved
   glucose sample type or sample location — raise :class:`MeasurementUnusable` rather than
   being guessed (a per-model quirk table can map them before conversion).
4. Secondary values — MAP, pulse and every context field — are omitted when they hold a
   special value, and omitted with a WARNING when they fall outside the contract's range.
5. Primary values outside the contract's range (e.g. systolic 0 or 500 mmHg) raise
   :class:`MeasurementUnusable` with the validation message.

``measured_at`` is supplied by the caller (the meter's time after skew correction, with the
patient's zone); a naive datetime is a programming error and raises ValueError.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edge.errors import ControlSolutionSample, MeasurementUnusable
from edge.gatt.blood_pressure import BloodPressureMeasurement, PulseRateRange
from edge.gatt.glucose import GlucoseContext, GlucoseMeasurement
from edge.gatt.sfloat import SFloat
from protocol import envelope

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)

_PULSE_RANGES = {
    PulseRateRange.WITHIN_RANGE: envelope.PulseRange.IN_RANGE,
    PulseRateRange.EXCEEDS_UPPER_LIMIT: envelope.PulseRange.ABOVE,
    PulseRateRange.BELOW_LOWER_LIMIT: envelope.PulseRange.BELOW,
}


def _require_number(value: SFloat | None, name: str) -> float:
    if value is None:
        raise MeasurementUnusable(f"{name} is absent")
    special = value.special
    if special is not None:
        raise MeasurementUnusable(f"{name} is the SFLOAT special value {special.name}")
    return value.value


def _check_aware(measured_at: datetime) -> None:
    if measured_at.tzinfo is None or measured_at.utcoffset() is None:
        raise ValueError("measured_at must be timezone-aware")


def _build(
    model: Callable[..., _M],
    values: Mapping[str, Any],
    *,
    primary: frozenset[str],
    optional: frozenset[str],
    what: str,
) -> _M:
    """Build ``model``; drop out-of-range optional fields, refuse out-of-range primary ones."""
    fields = dict(values)
    while True:
        try:
            return model(**fields)
        except ValidationError as exc:
            bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if not bad or not bad <= primary | optional:
                raise
            if bad & primary:
                first = next(e for e in exc.errors() if e["loc"] and e["loc"][0] in primary)
                raise MeasurementUnusable(
                    f"{what}: {first['loc'][0]} {first['msg']} (got {first['input']!r})"
                ) from exc
            for name in sorted(bad):
                logger.warning(
                    "%s: dropping %s=%r, outside the reading contract", what, name, fields[name]
                )
                del fields[name]


def bp_to_reading(
    m: BloodPressureMeasurement,
    *,
    gateway_id: str,
    device_id: str,
    seq: int,
    measured_at: datetime,
) -> envelope.BloodPressureReading:
    """Convert a Blood Pressure Measurement to a reading in mmHg (rules in the module doc)."""
    _check_aware(measured_at)
    _require_number(m.systolic, "systolic")
    _require_number(m.diastolic, "diastolic")
    status = envelope.BloodPressureStatus()
    if m.status is not None:
        pulse_range = _PULSE_RANGES.get(m.status.pulse_rate_range)
        if pulse_range is None:
            raise MeasurementUnusable("measurement status pulse rate range is the reserved value 3")
        status = envelope.BloodPressureStatus(
            body_movement=m.status.body_movement,
            cuff_too_loose=m.status.cuff_too_loose,
            irregular_pulse=m.status.irregular_pulse,
            pulse_range=pulse_range,
            improper_position=m.status.improper_position,
        )
    values: dict[str, Any] = {
        "gateway_id": gateway_id,
        "device_id": device_id,
        "seq": seq,
        "measured_at": measured_at,
        "systolic_mmhg": m.systolic_mmhg,
        "diastolic_mmhg": m.diastolic_mmhg,
        "user_id": m.user_id,
        "status": status,
    }
    if m.mean_arterial_pressure_mmhg is not None:
        values["map_mmhg"] = m.mean_arterial_pressure_mmhg
    if m.pulse_rate_bpm is not None:
        values["pulse_bpm"] = m.pulse_rate_bpm
    return _build(
        envelope.BloodPressureReading,
        values,
        primary=frozenset({"systolic_mmhg", "diastolic_mmhg"}),
        optional=frozenset({"map_mmhg", "pulse_bpm"}),
        what="blood pressure",
    )


def _context_values(context: GlucoseContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if context.meal is not None:
        values["meal"] = context.meal
    if context.carbohydrate_grams is not None:
        values["carbohydrate_g"] = context.carbohydrate_grams
    if context.exercise_duration_s is not None and not context.exercise_overrun:
        values["exercise_minutes"] = round(context.exercise_duration_s / 60)
    if context.hba1c_percent is not None and context.hba1c_percent.finite is not None:
        values["hba1c_percent"] = context.hba1c_percent.finite
    return values


def glucose_to_reading(
    m: GlucoseMeasurement,
    *,
    gateway_id: str,
    device_id: str,
    seq: int,
    measured_at: datetime,
    context: GlucoseContext | None = None,
) -> envelope.GlucoseReading:
    """Convert a Glucose Measurement (and its context, if any) to a reading in mmol/L."""
    _check_aware(measured_at)
    if context is not None and context.sequence_number != m.sequence_number:
        raise ValueError(
            f"context {context.sequence_number} does not belong to record {m.sequence_number}"
        )
    if m.is_control_solution:
        raise ControlSolutionSample(m)
    _require_number(m.concentration, "glucose concentration")
    sample_type, sample_location = m.sample_type, m.sample_location
    if sample_type is None:
        raise MeasurementUnusable(f"glucose sample type {m.type_code} is a reserved code")
    if sample_location is None:
        raise MeasurementUnusable(f"glucose sample location {m.location_code} is a reserved code")
    reading_context = None
    if context is not None:
        context_values = _context_values(context)
        if context_values:
            reading_context = _build(
                envelope.GlucoseContext,
                context_values,
                primary=frozenset(),
                optional=frozenset(context_values),
                what=f"glucose context {context.sequence_number}",
            )
            if reading_context == envelope.GlucoseContext():
                reading_context = None
    values: dict[str, Any] = {
        "gateway_id": gateway_id,
        "device_id": device_id,
        "seq": seq,
        "measured_at": measured_at,
        "glucose_mmol_l": m.glucose_mmol_l,
        "sample_type": sample_type,
        "sample_location": sample_location,
        "meter_seq": m.sequence_number,
        "annunciations": m.annunciations,
        "context": reading_context,
    }
    return _build(
        envelope.GlucoseReading,
        values,
        primary=frozenset({"glucose_mmol_l"}),
        optional=frozenset(),
        what=f"glucose record {m.sequence_number}",
    )
