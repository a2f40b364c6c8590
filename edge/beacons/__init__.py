"""Indoor positioning from BLE beacons: pure domain, no I/O, no bleak.

Layers, bottom up: :mod:`~edge.beacons.frames` decodes iBeacon / Eddystone-UID frames and
:mod:`~edge.beacons.decoder` counts the malformed ones; :mod:`~edge.beacons.smoothing` smooths
RSSI per beacon (moving median, then a 1-D Kalman filter); :mod:`~edge.beacons.pathloss` is the
log-distance model and its calibration; :mod:`~edge.beacons.positioner` is caredge's particle
filter on the walkable graph and :mod:`~edge.beacons.baselines` the nearest-beacon and
trilateration baselines; :mod:`~edge.beacons.offroute` decides when to re-route and
:mod:`~edge.beacons.evaluate` scores fixes against a walk's true positions. Maps, routes and
walk files come from the shared :mod:`wayfinding` package.
"""

from __future__ import annotations

from edge.beacons.baselines import NearestBeacon, Trilateration
from edge.beacons.decoder import AdvertDecoder, DecoderCounters
from edge.beacons.evaluate import WalkScore, replay, score
from edge.beacons.frames import (
    BeaconFormatError,
    BeaconFrame,
    EddystoneUidFrame,
    IBeaconFrame,
    NotABeaconFrame,
    parse_eddystone,
    parse_ibeacon,
)
from edge.beacons.offroute import OffRouteMonitor
from edge.beacons.pathloss import distance_from_rssi, fit_path_loss, rssi_at
from edge.beacons.positioner import FilterConfig, GraphParticleFilter
from edge.beacons.radio import Estimate, SiteRadio, Solver
from edge.beacons.smoothing import Kalman1D, RssiSmoother, RssiTracker
from wayfinding.model import HospitalMap

SOLVERS = ("caredge", "nearest", "trilateration")

__all__ = [
    "SOLVERS",
    "AdvertDecoder",
    "BeaconFormatError",
    "BeaconFrame",
    "DecoderCounters",
    "EddystoneUidFrame",
    "Estimate",
    "FilterConfig",
    "GraphParticleFilter",
    "IBeaconFrame",
    "Kalman1D",
    "NearestBeacon",
    "NotABeaconFrame",
    "OffRouteMonitor",
    "RssiSmoother",
    "RssiTracker",
    "SiteRadio",
    "Solver",
    "Trilateration",
    "WalkScore",
    "distance_from_rssi",
    "fit_path_loss",
    "make_solver",
    "parse_eddystone",
    "parse_ibeacon",
    "replay",
    "rssi_at",
    "score",
]


def make_solver(name: str, hospital: HospitalMap, *, seed: int = 0) -> Solver:
    """A solver by name: "caredge" (particle filter), "nearest" or "trilateration"."""
    if name == "caredge":
        return GraphParticleFilter(hospital, seed=seed)
    if name == "nearest":
        return NearestBeacon(hospital)
    if name == "trilateration":
        return Trilateration(hospital)
    raise ValueError(f"unknown solver {name!r}: one of {', '.join(SOLVERS)}")
