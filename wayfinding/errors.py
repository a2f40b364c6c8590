"""The wayfinding exception hierarchy: every error raised by ``wayfinding`` is a WayfindingError."""

from __future__ import annotations


class WayfindingError(Exception):
    """Base class of every error raised by the wayfinding domain."""


class MapFormatError(WayfindingError):
    """A map document that does not follow the map format; ``where`` names the offending entry."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class UnknownPlace(WayfindingError):
    """A place, room, kiosk or node id the map does not define."""

    def __init__(self, place_id: str) -> None:
        self.place_id = place_id
        super().__init__(f"unknown place {place_id!r}")


class NoRoute(WayfindingError):
    """Two places that no walkable path joins (under the requested constraints)."""

    def __init__(self, origin: str, destination: str, *, accessible: bool) -> None:
        self.origin = origin
        self.destination = destination
        self.accessible = accessible
        kind = "accessible route" if accessible else "route"
        super().__init__(f"no {kind} from {origin!r} to {destination!r}")


class WalkFormatError(WayfindingError):
    """A walk file line that does not follow the walk format (``line`` counts from 1)."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"walk line {line}: {reason}")
