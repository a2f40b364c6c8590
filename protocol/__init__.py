"""The wire contract between the caredge edge gateway and the cloud: pure, no I/O."""

from __future__ import annotations

from protocol.envelope import (
    PAYLOAD_VERSION,
    BloodPressureReading,
    GlucoseReading,
    PayloadError,
    Reading,
    decode_reading,
    encode_reading,
)
from protocol.topics import GatewayTopic, NurseTopic, TopicError

__all__ = [
    "PAYLOAD_VERSION",
    "BloodPressureReading",
    "GatewayTopic",
    "GlucoseReading",
    "NurseTopic",
    "PayloadError",
    "Reading",
    "TopicError",
    "decode_reading",
    "encode_reading",
]
