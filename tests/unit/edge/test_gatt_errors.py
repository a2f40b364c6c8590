"""The edge exception hierarchy carries its data and survives pickling."""

from __future__ import annotations

import pickle

from edge.errors import ControlSolutionSample, EdgeError, GattFormatError, MeasurementUnusable
from edge.gatt import parse_glucose_measurement
from tests.vectors.gatt import h


def test_gatt_format_error_carries_frame_and_reason() -> None:
    error = GattFormatError(b"\x1e\x78", "truncated in diastolic")
    assert isinstance(error, EdgeError)
    assert error.frame == b"\x1e\x78" and error.reason == "truncated in diastolic"
    assert str(error) == "truncated in diastolic (frame: 1e78)"
    assert "<empty>" in str(GattFormatError(b"", "empty"))


def test_errors_pickle() -> None:
    measurement = parse_glucose_measurement(h("02 0800 E807030F072D00 5FB0 4A"))
    for error in (
        GattFormatError(b"\x00", "why"),
        MeasurementUnusable("systolic is NaN"),
        ControlSolutionSample(measurement),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)
    assert pickle.loads(pickle.dumps(ControlSolutionSample(measurement))).measurement == measurement


def test_control_solution_is_not_unusable() -> None:
    assert not issubclass(ControlSolutionSample, MeasurementUnusable)
    assert issubclass(ControlSolutionSample, EdgeError)
    assert issubclass(MeasurementUnusable, EdgeError)
