"""How often the ingest worker writes gateways' and devices' last-seen times (pure policy)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from cloud.ingest.pipeline import AnyReading

LastSeen = dict[str, dict[str, datetime]]  # gateway_id -> device_id -> when


class LastSeenThrottle:
    """At most one last-seen write per device and interval: a busy device must not cost an
    UPDATE per batch, and consoles show last-seen times to the minute."""

    def __init__(self, interval: timedelta = timedelta(seconds=30)) -> None:
        self._interval = interval
        self._written: dict[tuple[str, str], datetime] = {}

    def due(self, readings: Iterable[AnyReading], now: datetime) -> LastSeen:
        """The devices of readings whose last-seen time should be written now."""
        due: LastSeen = defaultdict(dict)
        for reading in readings:
            written = self._written.get((reading.gateway_id, reading.device_id))
            if written is None or now - written >= self._interval:
                due[reading.gateway_id][reading.device_id] = now
        return due

    def written(self, last_seen: LastSeen) -> None:
        """Record what was committed."""
        for gateway_id, devices in last_seen.items():
            for device_id, when in devices.items():
                self._written[(gateway_id, device_id)] = when
