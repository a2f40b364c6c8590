"""MQTT topic scheme v1: small frozen value objects that validate themselves.

caredge/v1/gw/{gateway_id}/{reading|status|beacon|cmd|confirm}
caredge/v1/nurse/{nurse_id}/alerts
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

PREFIX = "caredge/v1"
ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_ID_RE = re.compile(rf"^{ID_PATTERN}$")
GatewayChannel = Literal["reading", "status", "beacon", "cmd", "confirm"]
GATEWAY_CHANNELS: tuple[str, ...] = ("reading", "status", "beacon", "cmd", "confirm")
_GATEWAY_TOPIC_RE = re.compile(rf"^{PREFIX}/gw/({ID_PATTERN})/(reading|status|beacon|cmd|confirm)$")

INGEST_SHARE_GROUP = "ingest"
READING_WILDCARD = f"{PREFIX}/gw/+/reading"
CONFIRM_WILDCARD = f"{PREFIX}/gw/+/confirm"
INGEST_SUBSCRIPTION = f"$share/{INGEST_SHARE_GROUP}/{READING_WILDCARD}"


class TopicError(ValueError):
    """A topic or identifier that does not follow the caredge topic scheme."""


def check_id(value: str, what: str = "identifier") -> str:
    """Return value if it is a valid caredge identifier (safe inside an MQTT topic level)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise TopicError(f"invalid {what} {value!r}: expected 1-64 of A-Z a-z 0-9 . _ -")
    return value


@dataclass(frozen=True)
class GatewayTopic:
    """A topic under one gateway: caredge/v1/gw/{gateway_id}/{channel}."""

    gateway_id: str
    channel: GatewayChannel

    def __post_init__(self) -> None:
        check_id(self.gateway_id, "gateway_id")
        if self.channel not in GATEWAY_CHANNELS:
            raise TopicError(f"unknown gateway channel {self.channel!r}")

    def __str__(self) -> str:
        return f"{PREFIX}/gw/{self.gateway_id}/{self.channel}"

    @classmethod
    def parse(cls, topic: str) -> GatewayTopic:
        """Parse a concrete gateway topic; raise TopicError if it is not one."""
        return _parse_gateway_topic(topic)


@lru_cache(maxsize=65536)
def _parse_gateway_topic(topic: str) -> GatewayTopic:
    # Cached: a fleet has few distinct topics and the ingest worker parses one per reading.
    match = _GATEWAY_TOPIC_RE.match(topic)
    if not match:
        raise TopicError(f"not a caredge gateway topic: {topic!r}")
    return GatewayTopic(match.group(1), match.group(2))  # type: ignore[arg-type]


@dataclass(frozen=True)
class NurseTopic:
    """A nurse device's alert topic: caredge/v1/nurse/{nurse_id}/alerts."""

    nurse_id: str

    def __post_init__(self) -> None:
        check_id(self.nurse_id, "nurse_id")

    def __str__(self) -> str:
        return f"{PREFIX}/nurse/{self.nurse_id}/alerts"
