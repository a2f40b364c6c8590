"""When to re-route: only after the fix has stayed off the route for a few seconds.

One fix off the path is usually noise (a fade, a crowd); re-planning on it would make the
directions flicker. A fix is off the route when it is on a floor the route does not use or more
than ``threshold_m`` from the route's polyline on its floor; :meth:`OffRouteMonitor.update` says
"re-route" once that has lasted ``hold_s`` without interruption, then starts counting afresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.beacons.radio import Estimate
from wayfinding.geometry import Point, project_on_segment

if TYPE_CHECKING:
    from wayfinding.routing import Route


@dataclass
class OffRouteMonitor:
    """Hysteresis on the distance between fixes and a route."""

    legs: Sequence[tuple[str, Sequence[Point]]]
    threshold_m: float = 5.0
    hold_s: float = 5.0
    _off_since: float | None = field(default=None, init=False)

    @classmethod
    def for_route(cls, route: Route, **kwargs: float) -> OffRouteMonitor:
        return cls([(leg.floor, leg.points) for leg in route.legs], **kwargs)

    def distance(self, estimate: Estimate) -> float:
        """Distance from the fix to the route on its floor (infinite on another floor)."""
        best = math.inf
        for floor, points in self.legs:
            if floor != estimate.floor:
                continue
            if len(points) == 1:
                best = min(best, math.dist(points[0], (estimate.x, estimate.y)))
            for a, b in zip(points, points[1:], strict=False):
                best = min(best, project_on_segment((estimate.x, estimate.y), a, b)[1])
        return best

    def update(self, estimate: Estimate) -> bool:
        """True when the walker has been off the route for hold_s: plan a new route now."""
        if self.distance(estimate) <= self.threshold_m:
            self._off_since = None
            return False
        if self._off_since is None:
            self._off_since = estimate.t
        if estimate.t - self._off_since >= self.hold_s:
            self._off_since = None
            return True
        return False
