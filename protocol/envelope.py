"""Reading payloads (envelope version 1) and their strict decoding.

Every reading travels as one JSON object:
``{"v": 1, "gateway_id", "device_id", "seq", "kind", "measured_at", ...kind fields}``.
``(gateway_id, device_id, seq)`` identifies a reading for at-least-once delivery with
idempotent effect: the cloud drops a repeated key. Values are always in the clinical
units fixed by the architecture (mmHg, bpm, mmol/L); gateways convert before sending.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from protocol.topics import ID_PATTERN

PAYLOAD_VERSION = 1
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_SEQ = 2**63 - 1


class PayloadError(ValueError):
    """A payload that is not a valid caredge reading; ``reason`` says why, for dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _finite(value: float) -> float:
    # IEEE-11073 special values (NaN, NRes, ±INF) must never become numbers.
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _not_boolean(value: object) -> object:
    # JSON ``true`` equals 1 and would pass ``Literal[1]``; a boolean is no version number.
    if isinstance(value, bool):
        raise ValueError("must be the number 1, not a boolean")
    return value


Finite = Annotated[float, AfterValidator(_finite)]
Identifier = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]


class PulseRange(StrEnum):
    """Pulse rate range detection from the BP measurement status (bits 3-4)."""

    IN_RANGE = "in_range"
    ABOVE = "above"
    BELOW = "below"


class BloodPressureStatus(BaseModel):
    """Measurement status of Blood Pressure Measurement 0x2A35 (a u16 bit field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    body_movement: bool = False
    cuff_too_loose: bool = False
    irregular_pulse: bool = False
    pulse_range: PulseRange = PulseRange.IN_RANGE
    improper_position: bool = False


class SampleType(StrEnum):
    """Glucose sample type (Glucose Measurement 0x2A18, low nibble)."""

    CAPILLARY_WHOLE_BLOOD = "capillary_whole_blood"
    CAPILLARY_PLASMA = "capillary_plasma"
    VENOUS_WHOLE_BLOOD = "venous_whole_blood"
    VENOUS_PLASMA = "venous_plasma"
    ARTERIAL_WHOLE_BLOOD = "arterial_whole_blood"
    ARTERIAL_PLASMA = "arterial_plasma"
    UNDETERMINED_WHOLE_BLOOD = "undetermined_whole_blood"
    UNDETERMINED_PLASMA = "undetermined_plasma"
    INTERSTITIAL_FLUID = "interstitial_fluid"
    CONTROL_SOLUTION = "control_solution"


class SampleLocation(StrEnum):
    """Glucose sample location (Glucose Measurement 0x2A18, high nibble)."""

    FINGER = "finger"
    ALTERNATE_SITE_TEST = "alternate_site_test"
    EARLOBE = "earlobe"
    CONTROL_SOLUTION = "control_solution"
    NOT_AVAILABLE = "not_available"


class SensorAnnunciation(StrEnum):
    """Glucose sensor status annunciation bits (0x2A18), in bit order."""

    BATTERY_LOW = "battery_low"
    SENSOR_MALFUNCTION = "sensor_malfunction"
    SAMPLE_SIZE_INSUFFICIENT = "sample_size_insufficient"
    STRIP_INSERTION_ERROR = "strip_insertion_error"
    STRIP_TYPE_INCORRECT = "strip_type_incorrect"
    RESULT_TOO_HIGH = "result_too_high"
    RESULT_TOO_LOW = "result_too_low"
    TEMPERATURE_TOO_HIGH = "temperature_too_high"
    TEMPERATURE_TOO_LOW = "temperature_too_low"
    READ_INTERRUPTED = "read_interrupted"
    GENERAL_DEVICE_FAULT = "general_device_fault"
    TIME_FAULT = "time_fault"


class Meal(StrEnum):
    """Meal context (Glucose Measurement Context 0x2A34)."""

    PREPRANDIAL = "preprandial"
    POSTPRANDIAL = "postprandial"
    FASTING = "fasting"
    CASUAL = "casual"
    BEDTIME = "bedtime"


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Annotated[Literal[1], BeforeValidator(_not_boolean)] = PAYLOAD_VERSION
    gateway_id: Identifier
    device_id: Identifier
    seq: int = Field(ge=0, le=MAX_SEQ, description="Gateway-assigned, unique per device")
    measured_at: AwareDatetime = Field(description="When the meter took the reading (UTC offset)")

    @property
    def key(self) -> tuple[str, str, int]:
        """The idempotency key (gateway_id, device_id, seq)."""
        return (self.gateway_id, self.device_id, self.seq)


class BloodPressureReading(_Envelope):
    """A blood-pressure reading in mmHg (Blood Pressure Service 0x1810)."""

    kind: Literal["blood_pressure"] = "blood_pressure"
    systolic_mmhg: Annotated[Finite, Field(gt=0, le=400)]
    diastolic_mmhg: Annotated[Finite, Field(gt=0, le=300)]
    map_mmhg: Annotated[Finite, Field(gt=0, le=400)] | None = None
    pulse_bpm: Annotated[Finite, Field(gt=0, le=350)] | None = None
    user_id: int | None = Field(default=None, ge=0, le=254)
    status: BloodPressureStatus = BloodPressureStatus()


class GlucoseContext(BaseModel):
    """The part of Glucose Measurement Context 0x2A34 that matters clinically."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meal: Meal | None = None
    carbohydrate_g: Annotated[Finite, Field(ge=0, le=1000)] | None = None
    exercise_minutes: int | None = Field(default=None, ge=0, le=1440)
    hba1c_percent: Annotated[Finite, Field(gt=0, le=25)] | None = None


class GlucoseReading(_Envelope):
    """A blood-glucose reading in mmol/L (Glucose Service 0x1808)."""

    kind: Literal["glucose"] = "glucose"
    glucose_mmol_l: Annotated[Finite, Field(gt=0, le=60)]
    sample_type: SampleType = SampleType.CAPILLARY_WHOLE_BLOOD
    sample_location: SampleLocation = SampleLocation.FINGER
    meter_seq: int | None = Field(default=None, ge=0, le=65535, description="GATT sequence")
    annunciations: frozenset[SensorAnnunciation] = frozenset()
    context: GlucoseContext | None = None


Reading = Annotated[BloodPressureReading | GlucoseReading, Field(discriminator="kind")]
READING_KINDS: tuple[str, ...] = ("blood_pressure", "glucose")
_reading_adapter: TypeAdapter[BloodPressureReading | GlucoseReading] = TypeAdapter(Reading)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


def decode_reading(payload: bytes | str) -> BloodPressureReading | GlucoseReading:
    """Decode and validate one reading payload; raise PayloadError with a readable reason.

    The ingest hot path: pydantic's own JSON parser validates a good payload in about half
    the time of ``json.loads`` plus ``validate_python``. Whatever it refuses goes through
    :func:`_decode_explained`, which decides (it also accepts what only ``json.loads`` reads,
    e.g. a UTF-8 byte-order mark) and words the reason; the model refuses a boolean ``v``
    itself, so the fast path accepts nothing the explained one refuses.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return _reading_adapter.validate_json(payload)
    except ValidationError:
        return _decode_explained(payload)


def _decode_explained(payload: bytes | str) -> BloodPressureReading | GlucoseReading:
    """The step-by-step decoding whose first failure becomes the dead letter's reason."""
    try:
        data: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("v")
    if version != PAYLOAD_VERSION or isinstance(version, bool):
        raise PayloadError(f"unsupported payload version {version!r} (this side speaks v1)")
    kind = data.get("kind")
    if kind not in READING_KINDS:
        raise PayloadError(f"unknown reading kind {kind!r}; expected one of {READING_KINDS}")
    try:
        return _reading_adapter.validate_python(data)
    except ValidationError as exc:
        raise PayloadError(_first_error(exc)) from None


def encode_reading(reading: BloodPressureReading | GlucoseReading) -> bytes:
    """Encode a reading as compact JSON bytes (the MQTT payload)."""
    return reading.model_dump_json(exclude_none=True).encode()


def reading_json_schema() -> dict[str, Any]:
    """The JSON Schema of a reading payload, for gateways not written in Python."""
    schema = _reading_adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://caredge.example/schema/reading-v1.json"
    schema["title"] = "caredge reading payload v1"
    return schema


def utc_iso(moment: datetime) -> str:
    """ISO 8601 text of an aware datetime, for logs and API bodies."""
    return moment.isoformat()
