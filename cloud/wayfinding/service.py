"""The map a deployment routes on, loaded once per path, with its router."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cloud.settings import Settings
from wayfinding.mapfile import SAMPLE_MAP, load_map
from wayfinding.model import HospitalMap
from wayfinding.routing import Router


@dataclass(frozen=True)
class Wayfinder:
    """A parsed map and the router built on it."""

    map: HospitalMap
    router: Router


@lru_cache(maxsize=4)
def _wayfinder(path: str) -> Wayfinder:
    hospital = load_map(Path(path))
    return Wayfinder(hospital, Router(hospital))


def wayfinder_for(settings: Settings) -> Wayfinder:
    """The map named by ``CAREDGE_WAYFINDING_MAP``, else the sample hospital shipped."""
    path = settings.wayfinding_map or SAMPLE_MAP
    return _wayfinder(str(path))
