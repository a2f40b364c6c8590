"""Turn one advertisement's data (as bleak reports it) into beacon frames, counting the bad ones.

bleak's ``AdvertisementData`` gives ``manufacturer_data`` keyed by company id and
``service_data`` keyed by 128-bit UUID strings; both are accepted here so the scanner passes them
straight through. Malformed frames are counted and dropped, never raised: one faulty beacon in a
hospital must not stop positioning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.beacons.frames import (
    APPLE_COMPANY_ID,
    EDDYSTONE_SERVICE,
    BeaconFormatError,
    BeaconFrame,
    NotABeaconFrame,
    parse_eddystone,
    parse_ibeacon,
)
from edge.gatt.const import uuid16_to_str

log = logging.getLogger(__name__)
EDDYSTONE_UUID = uuid16_to_str(EDDYSTONE_SERVICE)


@dataclass
class DecoderCounters:
    """Frames decoded, frames of other kinds skipped, malformed frames dropped."""

    decoded: int = 0
    other: int = 0
    malformed: int = 0


class AdvertDecoder:
    """Decodes advertisements; keeps counters and the last malformed-frame error."""

    def __init__(self) -> None:
        self.counters = DecoderCounters()
        self.last_error: BeaconFormatError | None = None

    def decode(
        self,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
    ) -> list[BeaconFrame]:
        """Every iBeacon / Eddystone-UID frame in one advertisement (usually zero or one)."""
        frames: list[BeaconFrame] = []
        candidates: list[tuple[Callable[[bytes], BeaconFrame], bytes]] = []
        if APPLE_COMPANY_ID in manufacturer_data:
            candidates.append((parse_ibeacon, manufacturer_data[APPLE_COMPANY_ID]))
        for key, value in service_data.items():
            if key.lower() == EDDYSTONE_UUID:
                candidates.append((parse_eddystone, value))
        for parse, value in candidates:
            try:
                frames.append(parse(value))
            except NotABeaconFrame:
                self.counters.other += 1
            except BeaconFormatError as exc:
                self.counters.malformed += 1
                if self.last_error is None:
                    log.warning("malformed beacon frame dropped: %s", exc)
                self.last_error = exc
        self.counters.decoded += len(frames)
        return frames
