"""The hospital map: floors, places, the walkable graph, kiosks and beacons (format version 1).

The document format is described in docs/wayfinding.md. Coordinates are metres in one frame per
building: x grows east, y grows north, and a floor's ``elevation_m`` is its height above the
ground floor. :func:`parse_map` checks every reference and refuses unknown fields, so a typo in a
map file is an error with the entry's name instead of a silently ignored setting.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from wayfinding.errors import MapFormatError, UnknownPlace
from wayfinding.geometry import Point, point_in_polygon

MAP_FORMAT = "caredge.wayfinding.map"
MAP_VERSION = 1

PlaceKind = Literal["department", "room", "lobby", "corridor", "lift", "stairs"]
EdgeKind = Literal["corridor", "door", "lift", "stairs"]
PLACE_KINDS: tuple[str, ...] = ("department", "room", "lobby", "corridor", "lift", "stairs")
EDGE_KINDS: tuple[str, ...] = ("corridor", "door", "lift", "stairs")
VERTICAL_KINDS: tuple[str, ...] = ("lift", "stairs")


@dataclass(frozen=True)
class Name:
    """A name in English and Chinese."""

    en: str
    zh: str

    def in_lang(self, lang: str) -> str:
        """The name in ``lang`` ("en" or "zh")."""
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Floor:
    """One storey: ``level`` as signed on the lift (1 = ground), outline polygon in metres."""

    id: str
    level: int
    name: Name
    elevation_m: float
    outline: tuple[Point, ...]


@dataclass(frozen=True)
class Place:
    """A named area on one floor; ``node`` is the graph node a route to it ends at."""

    id: str
    kind: str
    floor: str
    name: Name
    polygon: tuple[Point, ...]
    node: str


@dataclass(frozen=True)
class Node:
    """A point of the walkable graph."""

    id: str
    floor: str
    x: float
    y: float

    @property
    def point(self) -> Point:
        return (self.x, self.y)


@dataclass(frozen=True)
class Edge:
    """A walkable link: ``length_m`` walked, ``cost_m`` weighs it for routing (lift waits)."""

    a: str
    b: str
    kind: str
    length_m: float
    cost_m: float
    accessible: bool

    @property
    def vertical(self) -> bool:
        return self.kind in VERTICAL_KINDS


@dataclass(frozen=True)
class Kiosk:
    """A kiosk: where it stands, its graph node and the way a reader of its screen faces."""

    id: str
    floor: str
    x: float
    y: float
    node: str
    facing_deg: float | None
    name: Name


@dataclass(frozen=True)
class IBeaconId:
    """Apple iBeacon identity: proximity UUID, major, minor."""

    uuid: uuid.UUID
    major: int
    minor: int

    @property
    def key(self) -> str:
        return f"ibeacon:{self.uuid}:{self.major}:{self.minor}"


@dataclass(frozen=True)
class EddystoneUidId:
    """Eddystone-UID identity: 10-byte namespace and 6-byte instance."""

    namespace: bytes
    instance: bytes

    @property
    def key(self) -> str:
        return f"eddystone:{self.namespace.hex()}:{self.instance.hex()}"


BeaconIdentity = IBeaconId | EddystoneUidId


@dataclass(frozen=True)
class Beacon:
    """A fixed beacon: identity, position, mounting height, and its path-loss calibration."""

    id: str
    identity: BeaconIdentity
    floor: str
    x: float
    y: float
    height_m: float
    measured_power: int
    path_loss_exponent: float

    @property
    def key(self) -> str:
        return self.identity.key


@dataclass(frozen=True)
class RadioDefaults:
    """Map-wide radio parameters: phone height, loss per floor crossed, default exponent."""

    phone_height_m: float
    floor_loss_db: float
    path_loss_exponent: float


@dataclass(frozen=True)
class HospitalMap:
    """A parsed, cross-checked map. Look-ups raise UnknownPlace for ids the map lacks."""

    id: str
    name: Name
    radio: RadioDefaults
    floors: Mapping[str, Floor]
    places: Mapping[str, Place]
    nodes: Mapping[str, Node]
    edges: tuple[Edge, ...]
    kiosks: Mapping[str, Kiosk]
    beacons: tuple[Beacon, ...]

    def floor(self, floor_id: str) -> Floor:
        try:
            return self.floors[floor_id]
        except KeyError:
            raise UnknownPlace(floor_id) from None

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownPlace(node_id) from None

    def place(self, place_id: str) -> Place:
        try:
            return self.places[place_id]
        except KeyError:
            raise UnknownPlace(place_id) from None

    def endpoint(self, ref: str) -> tuple[str, str]:
        """(graph node, display name ref) for a kiosk, place or node id."""
        if ref in self.kiosks:
            return self.kiosks[ref].node, ref
        if ref in self.places:
            return self.places[ref].node, ref
        if ref in self.nodes:
            return ref, ref
        raise UnknownPlace(ref)

    def place_at(self, floor_id: str, x: float, y: float) -> Place | None:
        """The place whose polygon holds (x, y) on that floor; rooms win over corridors."""
        found: Place | None = None
        for place in self.places.values():
            if place.floor == floor_id and point_in_polygon((x, y), place.polygon):
                if place.kind != "corridor":
                    return place
                found = found or place
        return found

    def elevation(self, floor_id: str) -> float:
        return self.floor(floor_id).elevation_m

    def beacon_by_key(self) -> dict[str, Beacon]:
        return {beacon.key: beacon for beacon in self.beacons}


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _fields(where: str, raw: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MapFormatError(where, "must be a mapping")
    missing = required - raw.keys()
    if missing:
        raise MapFormatError(where, f"missing {', '.join(sorted(missing))}")
    unknown = raw.keys() - required - optional
    if unknown:
        raise MapFormatError(where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    return dict(raw)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MapFormatError(where, f"{value!r} is not a finite number")
    return float(value)


def _name(where: str, raw: Any) -> Name:
    fields = _fields(where, raw, {"en", "zh"}, set())
    for lang in ("en", "zh"):
        if not isinstance(fields[lang], str) or not fields[lang].strip():
            raise MapFormatError(f"{where}.{lang}", "must be a non-empty string")
    return Name(en=fields["en"], zh=fields["zh"])


def _polygon(where: str, raw: Any) -> tuple[Point, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) < 3:
        raise MapFormatError(where, "a polygon needs at least three [x, y] points")
    points = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise MapFormatError(f"{where}[{i}]", "must be [x, y]")
        points.append((_number(f"{where}[{i}]", pair[0]), _number(f"{where}[{i}]", pair[1])))
    return tuple(points)


def _unique(where: str, ids: list[Any]) -> None:
    seen: set[str] = set()
    for item in ids:
        if not isinstance(item, str) or not item:
            raise MapFormatError(where, f"id {item!r} must be a non-empty string")
        if item in seen:
            raise MapFormatError(where, f"duplicate id {item!r}")
        seen.add(item)


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise MapFormatError(key, "must be a list")
    return value


def _identity(where: str, raw: Mapping[str, Any]) -> BeaconIdentity:
    if ("ibeacon" in raw) == ("eddystone_uid" in raw):
        raise MapFormatError(where, "give exactly one of ibeacon or eddystone_uid")
    if "ibeacon" in raw:
        fields = _fields(f"{where}.ibeacon", raw["ibeacon"], {"uuid", "major", "minor"}, set())
        try:
            proximity = uuid.UUID(str(fields["uuid"]))
        except ValueError as exc:
            raise MapFormatError(f"{where}.ibeacon.uuid", str(exc)) from exc
        for key in ("major", "minor"):
            value = fields[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise MapFormatError(f"{where}.ibeacon.{key}", "must be an integer 0..65535")
        return IBeaconId(proximity, fields["major"], fields["minor"])
    fields = _fields(
        f"{where}.eddystone_uid", raw["eddystone_uid"], {"namespace", "instance"}, set()
    )
    try:
        namespace = bytes.fromhex(str(fields["namespace"]))
        instance = bytes.fromhex(str(fields["instance"]))
    except ValueError as exc:
        raise MapFormatError(f"{where}.eddystone_uid", f"not hex: {exc}") from exc
    if len(namespace) != 10 or len(instance) != 6:
        raise MapFormatError(f"{where}.eddystone_uid", "namespace is 10 bytes, instance 6 bytes")
    return EddystoneUidId(namespace, instance)


def parse_map(raw: Any) -> HospitalMap:
    """Validate a decoded map document (YAML or JSON) and build the HospitalMap."""
    top = _fields(
        "map",
        raw,
        {"format", "version", "id", "name", "floors", "places", "nodes", "edges"},
        {"radio", "kiosks", "beacons"},
    )
    if top["format"] != MAP_FORMAT:
        raise MapFormatError("map.format", f"expected {MAP_FORMAT!r}, got {top['format']!r}")
    if top["version"] != MAP_VERSION:
        raise MapFormatError("map.version", f"this reader knows version {MAP_VERSION} only")
    radio_raw = _fields(
        "radio",
        top.get("radio", {}),
        set(),
        {"phone_height_m", "floor_loss_db", "path_loss_exponent"},
    )
    radio = RadioDefaults(
        phone_height_m=_number("radio.phone_height_m", radio_raw.get("phone_height_m", 1.2)),
        floor_loss_db=_number("radio.floor_loss_db", radio_raw.get("floor_loss_db", 15.0)),
        path_loss_exponent=_number(
            "radio.path_loss_exponent", radio_raw.get("path_loss_exponent", 2.2)
        ),
    )

    floors: dict[str, Floor] = {}
    floor_list = _list(top, "floors")
    _unique("floors", [f.get("id") if isinstance(f, Mapping) else None for f in floor_list])
    for raw_floor in floor_list:
        where = f"floors.{raw_floor['id']}"
        f = _fields(where, raw_floor, {"id", "level", "name", "elevation_m", "outline"}, set())
        floors[f["id"]] = Floor(
            id=f["id"],
            level=int(_number(f"{where}.level", f["level"])),
            name=_name(f"{where}.name", f["name"]),
            elevation_m=_number(f"{where}.elevation_m", f["elevation_m"]),
            outline=_polygon(f"{where}.outline", f["outline"]),
        )

    def floor_ref(where: str, value: Any) -> str:
        if not isinstance(value, str) or value not in floors:
            raise MapFormatError(where, f"unknown floor {value!r}")
        return str(value)

    nodes: dict[str, Node] = {}
    node_list = _list(top, "nodes")
    _unique("nodes", [n.get("id") if isinstance(n, Mapping) else None for n in node_list])
    for raw_node in node_list:
        where = f"nodes.{raw_node['id']}"
        n = _fields(where, raw_node, {"id", "floor", "x", "y"}, set())
        nodes[n["id"]] = Node(
            id=n["id"],
            floor=floor_ref(f"{where}.floor", n["floor"]),
            x=_number(f"{where}.x", n["x"]),
            y=_number(f"{where}.y", n["y"]),
        )

    def node_ref(where: str, value: Any) -> str:
        if not isinstance(value, str) or value not in nodes:
            raise MapFormatError(where, f"unknown node {value!r}")
        return str(value)

    edges: list[Edge] = []
    for i, raw_edge in enumerate(_list(top, "edges")):
        where = f"edges[{i}]"
        e = _fields(where, raw_edge, {"from", "to"}, {"kind", "length_m", "cost_m", "accessible"})
        a, b = node_ref(f"{where}.from", e["from"]), node_ref(f"{where}.to", e["to"])
        kind = e.get("kind", "corridor")
        if not isinstance(kind, str) or kind not in EDGE_KINDS:
            raise MapFormatError(f"{where}.kind", f"one of {', '.join(EDGE_KINDS)}")
        same_floor = nodes[a].floor == nodes[b].floor
        if (kind in VERTICAL_KINDS) == same_floor:
            raise MapFormatError(where, "lift and stairs edges join floors, other edges do not")
        if "length_m" in e:
            length = _number(f"{where}.length_m", e["length_m"])
        elif same_floor:
            length = math.dist(nodes[a].point, nodes[b].point)
        else:
            raise MapFormatError(where, "an edge between floors needs length_m")
        cost = _number(f"{where}.cost_m", e.get("cost_m", length))
        if length <= 0 or cost <= 0:
            raise MapFormatError(where, "length and cost must be positive")
        accessible = e.get("accessible", kind != "stairs")
        if not isinstance(accessible, bool):
            raise MapFormatError(f"{where}.accessible", "must be true or false")
        edges.append(Edge(a, b, kind, length, cost, accessible))

    places: dict[str, Place] = {}
    place_list = _list(top, "places")
    _unique("places", [p.get("id") if isinstance(p, Mapping) else None for p in place_list])
    for raw_place in place_list:
        where = f"places.{raw_place['id']}"
        p = _fields(where, raw_place, {"id", "kind", "floor", "name", "polygon", "node"}, set())
        if p["kind"] not in PLACE_KINDS:
            raise MapFormatError(f"{where}.kind", f"one of {', '.join(PLACE_KINDS)}")
        place = Place(
            id=p["id"],
            kind=p["kind"],
            floor=floor_ref(f"{where}.floor", p["floor"]),
            name=_name(f"{where}.name", p["name"]),
            polygon=_polygon(f"{where}.polygon", p["polygon"]),
            node=node_ref(f"{where}.node", p["node"]),
        )
        if nodes[place.node].floor != place.floor:
            raise MapFormatError(f"{where}.node", "the place's node is on another floor")
        places[place.id] = place

    kiosks: dict[str, Kiosk] = {}
    kiosk_list = _list(top, "kiosks")
    _unique("kiosks", [k.get("id") if isinstance(k, Mapping) else None for k in kiosk_list])
    for raw_kiosk in kiosk_list:
        where = f"kiosks.{raw_kiosk['id']}"
        k = _fields(where, raw_kiosk, {"id", "node", "name"}, {"facing_deg"})
        node = nodes[node_ref(f"{where}.node", k["node"])]
        facing = k.get("facing_deg")
        kiosks[k["id"]] = Kiosk(
            id=k["id"],
            floor=node.floor,
            x=node.x,
            y=node.y,
            node=node.id,
            facing_deg=None if facing is None else _number(f"{where}.facing_deg", facing),
            name=_name(f"{where}.name", k["name"]),
        )

    beacons: list[Beacon] = []
    beacon_list = _list(top, "beacons")
    _unique("beacons", [b.get("id") if isinstance(b, Mapping) else None for b in beacon_list])
    keys: set[str] = set()
    for raw_beacon in beacon_list:
        where = f"beacons.{raw_beacon['id']}"
        entry = _fields(
            where,
            raw_beacon,
            {"id", "floor", "x", "y", "measured_power"},
            {"ibeacon", "eddystone_uid", "height_m", "path_loss_exponent"},
        )
        power = _number(f"{where}.measured_power", entry["measured_power"])
        if not -128 <= power <= 127 or power != int(power):
            raise MapFormatError(f"{where}.measured_power", "a signed byte, dBm at 1 m")
        beacon = Beacon(
            id=entry["id"],
            identity=_identity(where, entry),
            floor=floor_ref(f"{where}.floor", entry["floor"]),
            x=_number(f"{where}.x", entry["x"]),
            y=_number(f"{where}.y", entry["y"]),
            height_m=_number(f"{where}.height_m", entry.get("height_m", 2.5)),
            measured_power=int(power),
            path_loss_exponent=_number(
                f"{where}.path_loss_exponent",
                entry.get("path_loss_exponent", radio.path_loss_exponent),
            ),
        )
        if beacon.key in keys:
            raise MapFormatError(where, f"identity {beacon.key} is used twice")
        keys.add(beacon.key)
        beacons.append(beacon)

    name = _name("map.name", top["name"])
    return HospitalMap(
        id=str(top["id"]),
        name=name,
        radio=radio,
        floors=MappingProxyType(floors),
        places=MappingProxyType(places),
        nodes=MappingProxyType(nodes),
        edges=tuple(edges),
        kiosks=MappingProxyType(kiosks),
        beacons=tuple(beacons),
    )
