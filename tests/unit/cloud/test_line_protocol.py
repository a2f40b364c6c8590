"""The pure line-protocol encoder and the rebuild of points from VictoriaMetrics export series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloud.tsdb.base import ReadingPoint
from cloud.tsdb.influx_store import rebuild_points
from cloud.tsdb.line_protocol import (
    encode_point,
    escape_tag,
    format_float,
    from_epoch_ms,
    to_epoch_ms,
)

AT = datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
AT_MS = 1709281815123


def glucose(**changes: object) -> ReadingPoint:
    fields: dict[str, object] = {
        "gateway_id": "gw-1",
        "device_id": "meter.2",
        "seq": 3,
        "kind": "glucose",
        "measured_at": AT,
        "patient_id": 7,
        "values": {"glucose_mmol_l": 5.55},
    }
    fields.update(changes)
    return ReadingPoint(**fields)  # type: ignore[arg-type]


def test_encodes_one_record_with_sorted_tags_integer_seq_and_ms_timestamp() -> None:
    assert encode_point(glucose()) == (
        "reading,device_id=meter.2,gateway_id=gw-1,kind=glucose,patient_id=7 "
        f"glucose_mmol_l=5.55,seq=3i {AT_MS}"
    )


def test_unbound_point_has_no_patient_tag() -> None:
    line = encode_point(glucose(patient_id=None))
    assert "patient_id" not in line
    assert line.startswith("reading,device_id=meter.2,gateway_id=gw-1,kind=glucose ")


def test_blood_pressure_carries_every_value_field() -> None:
    point = glucose(
        kind="blood_pressure",
        values={
            "systolic_mmhg": 120.0,
            "diastolic_mmhg": 80.0,
            "map_mmhg": 93.3,
            "pulse_bpm": 72.0,
        },
    )
    fields = encode_point(point).split(" ")[1]
    assert fields == "systolic_mmhg=120.0,diastolic_mmhg=80.0,map_mmhg=93.3,pulse_bpm=72.0,seq=3i"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("x y,z=w", r"x\ y\,z\=w"),
        ("back\\slash", "back\\\\slash"),
        ("trailing\\", "trailing\\\\"),
        ("plain-id_1.2", "plain-id_1.2"),
        ("病人", "病人"),
    ],
)
def test_escape_tag(raw: str, escaped: str) -> None:
    assert escape_tag(raw) == escaped


def test_escaped_tag_values_land_in_the_record() -> None:
    line = encode_point(glucose(gateway_id="ward 3,bed=2", device_id="a\\b"))
    assert line.startswith(r"reading,device_id=a\\b,gateway_id=ward\ 3\,bed\=2,kind=glucose,")


@pytest.mark.parametrize("bad", ["", "two\nlines", "carriage\rreturn"])
def test_unrepresentable_tag_values_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        escape_tag(bad)


@pytest.mark.parametrize("value", [5.55, 7.8, 13.9, 0.1 + 0.2, 100 / 18.016, 1e-7, 1e16])
def test_floats_are_written_in_shortest_round_trip_form(value: float) -> None:
    assert float(format_float(value)) == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        encode_point(glucose(values={"glucose_mmol_l": value}))


def test_timestamps_truncate_to_the_millisecond_and_respect_offsets() -> None:
    assert to_epoch_ms(AT) == AT_MS
    assert to_epoch_ms(AT.replace(microsecond=999999)) == AT_MS - 123 + 999
    plus_eight = AT.astimezone(timezone(timedelta(hours=8)))
    assert to_epoch_ms(plus_eight) == AT_MS
    assert to_epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)) == -1
    assert from_epoch_ms(AT_MS) == AT.replace(microsecond=123000)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_point(glucose(measured_at=datetime(2024, 3, 1, 8, 30)))


def series(name: str, values: list[float], timestamps: list[int], **labels: str) -> dict:
    metric = {"__name__": name, "gateway_id": "gw-1", "device_id": "m1", "kind": "blood_pressure"}
    metric.update(labels)
    return {"metric": metric, "values": values, "timestamps": timestamps}


def test_rebuild_groups_series_by_device_and_time_oldest_first() -> None:
    exported = [
        series("reading_seq", [2, 1], [2000, 1000], patient_id="7"),
        series("reading_systolic_mmhg", [130, 120], [2000, 1000], patient_id="7"),
        series("reading_diastolic_mmhg", [85, 80.5], [2000, 1000], patient_id="7"),
    ]
    points = rebuild_points(exported)
    assert [(p.seq, p.measured_at, p.values) for p in points] == [
        (1, from_epoch_ms(1000), {"systolic_mmhg": 120.0, "diastolic_mmhg": 80.5}),
        (2, from_epoch_ms(2000), {"systolic_mmhg": 130.0, "diastolic_mmhg": 85.0}),
    ]
    assert all(p.patient_id == 7 and p.gateway_id == "gw-1" for p in points)


def test_rebuild_collapses_one_key_stored_at_two_times() -> None:
    exported = [
        series("reading_seq", [5, 5], [1000, 3000], patient_id="7"),
        series("reading_pulse_bpm", [60, 61], [1000, 3000], patient_id="7"),
    ]
    (point,) = rebuild_points(exported)
    assert point.measured_at == from_epoch_ms(1000)
    assert point.values == {"pulse_bpm": 60.0}


def test_rebuild_drops_samples_without_seq_and_unknown_fields() -> None:
    exported = [
        series("reading_systolic_mmhg", [120], [1000]),
        series("reading_seq", [1], [2000]),
        series("reading_glucose_mmol_l", [5.5], [2000]),
        series("other_metric", [1], [2000]),
    ]
    (point,) = rebuild_points(exported)
    assert point.seq == 1
    assert point.patient_id is None
    assert point.values == {}
