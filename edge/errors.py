"""The edge gateway's exception hierarchy: every error raised by ``edge`` derives from EdgeError.

Subclasses carry the data a coordinator needs to count, log and recover (STYLE.md: one
hierarchy per component, subclasses that carry data, third-party errors wrapped where they
enter with ``raise … from``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.gatt.glucose import GlucoseMeasurement


class EdgeError(Exception):
    """Base class of every error raised by the edge gateway."""


class GattFormatError(EdgeError):
    """A GATT characteristic value that does not follow its specification.

    ``frame`` is the raw value exactly as received and ``reason`` says what is wrong with it;
    the message carries both, the frame in hex, so one log line is enough to reproduce it.
    """

    def __init__(self, frame: bytes, reason: str) -> None:
        self.frame = bytes(frame)
        self.reason = reason
        super().__init__(f"{reason} (frame: {self.frame.hex() or '<empty>'})")

    def __reduce__(self) -> tuple[type[GattFormatError], tuple[bytes, str]]:
        # Keep the two-argument constructor working through pickle (multiprocessing, logging).
        return (type(self), (self.frame, self.reason))


class MeasurementUnusable(EdgeError):
    """A well-formed measurement that cannot become a clinical reading (``reason`` says why).

    Raised by :mod:`edge.gatt.to_reading` for IEEE-11073 special values (NaN, NRes, ±INF) in a
    primary value, missing values, reserved codes the wire contract cannot express, and values
    outside the contract's plausible ranges. Special values are never turned into numbers.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[type[MeasurementUnusable], tuple[str]]:
        return (type(self), (self.reason,))


class ControlSolutionSample(EdgeError):
    """A glucose record measured on control solution (type 10 or location 4), not on a patient.

    Deliberately not a :class:`MeasurementUnusable`: the gateway keeps these out of clinical data
    but records them as device events (a meter check), so it catches this case on its own.
    ``measurement`` is the parsed record.
    """

    def __init__(self, measurement: GlucoseMeasurement) -> None:
        self.measurement = measurement
        super().__init__(
            f"glucose record {measurement.sequence_number} is a control-solution sample"
        )

    def __reduce__(self) -> tuple[type[ControlSolutionSample], tuple[GlucoseMeasurement]]:
        return (type(self), (self.measurement,))
