"""The walk format: JSON lines of what a phone heard, and where it truly was (format version 1).

Line 1 is a header ``{"format": "caredge.wayfinding.walk", "version": 1, "map": ID, "params":
{...}}``; every further line is a sample ``{"t": seconds, "adverts": [...], "true": {"floor": F,
"x": X, "y": Y}}`` ("true" may be absent for real recordings). An advert is
``{"type": "ibeacon", "uuid": U, "major": M, "minor": N, "rssi": R}`` or
``{"type": "eddystone_uid", "namespace": 20 hex, "instance": 12 hex, "rssi": R}``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wayfinding.errors import WalkFormatError
from wayfinding.model import BeaconIdentity, EddystoneUidId, IBeaconId

WALK_FORMAT = "caredge.wayfinding.walk"
WALK_VERSION = 1


@dataclass(frozen=True)
class Advert:
    """One advertisement heard: the beacon's identity and its RSSI in dBm."""

    identity: BeaconIdentity
    rssi: float


@dataclass(frozen=True)
class TruePosition:
    floor: str
    x: float
    y: float


@dataclass(frozen=True)
class WalkSample:
    """Adverts heard since the previous sample, at time ``t`` (seconds from the walk's start)."""

    t: float
    adverts: tuple[Advert, ...]
    true: TruePosition | None = None


@dataclass(frozen=True)
class WalkHeader:
    map_id: str
    params: dict[str, Any] = field(default_factory=dict)


def header_line(header: WalkHeader) -> str:
    return json.dumps(
        {
            "format": WALK_FORMAT,
            "version": WALK_VERSION,
            "map": header.map_id,
            "params": header.params,
        },
        sort_keys=True,
    )


def _advert_json(advert: Advert) -> dict[str, Any]:
    identity = advert.identity
    if isinstance(identity, IBeaconId):
        body: dict[str, Any] = {
            "type": "ibeacon",
            "uuid": str(identity.uuid),
            "major": identity.major,
            "minor": identity.minor,
        }
    else:
        body = {
            "type": "eddystone_uid",
            "namespace": identity.namespace.hex(),
            "instance": identity.instance.hex(),
        }
    body["rssi"] = advert.rssi
    return body


def sample_line(sample: WalkSample) -> str:
    body: dict[str, Any] = {
        "t": round(sample.t, 3),
        "adverts": [_advert_json(a) for a in sample.adverts],
    }
    if sample.true is not None:
        body["true"] = {
            "floor": sample.true.floor,
            "x": round(sample.true.x, 3),
            "y": round(sample.true.y, 3),
        }
    return json.dumps(body)


def _number(line: int, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WalkFormatError(line, f"{what} must be a finite number, got {value!r}")
    return float(value)


def _advert(line: int, raw: Any) -> Advert:
    if not isinstance(raw, dict):
        raise WalkFormatError(line, "an advert must be an object")
    rssi = _number(line, raw.get("rssi"), "rssi")
    try:
        if raw.get("type") == "ibeacon":
            identity: BeaconIdentity = IBeaconId(
                uuid.UUID(raw["uuid"]), int(raw["major"]), int(raw["minor"])
            )
        elif raw.get("type") == "eddystone_uid":
            identity = EddystoneUidId(
                bytes.fromhex(raw["namespace"]), bytes.fromhex(raw["instance"])
            )
        else:
            raise WalkFormatError(line, f"unknown advert type {raw.get('type')!r}")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise WalkFormatError(line, f"bad advert identity: {exc!r}") from exc
    return Advert(identity, rssi)


def read_walk(lines: Iterable[str]) -> tuple[WalkHeader, list[WalkSample]]:
    """Parse a walk; raises WalkFormatError naming the first bad line."""
    header: WalkHeader | None = None
    samples: list[WalkSample] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WalkFormatError(number, f"not JSON: {exc.msg}") from exc
        if not isinstance(raw, dict):
            raise WalkFormatError(number, "each line must be a JSON object")
        if header is None:
            if raw.get("format") != WALK_FORMAT or raw.get("version") != WALK_VERSION:
                raise WalkFormatError(number, f"expected a {WALK_FORMAT} v{WALK_VERSION} header")
            header = WalkHeader(str(raw.get("map", "")), dict(raw.get("params") or {}))
            continue
        t = _number(number, raw.get("t"), "t")
        if samples and t < samples[-1].t:
            raise WalkFormatError(number, "time goes backwards")
        adverts = raw.get("adverts", [])
        if not isinstance(adverts, list):
            raise WalkFormatError(number, "adverts must be a list")
        true = raw.get("true")
        position = None
        if true is not None:
            if not isinstance(true, dict) or not isinstance(true.get("floor"), str):
                raise WalkFormatError(number, "true must be {floor, x, y}")
            position = TruePosition(
                true["floor"],
                _number(number, true.get("x"), "x"),
                _number(number, true.get("y"), "y"),
            )
        samples.append(WalkSample(t, tuple(_advert(number, a) for a in adverts), position))
    if header is None:
        raise WalkFormatError(1, "empty walk: no header")
    return header, samples
