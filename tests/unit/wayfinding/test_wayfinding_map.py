"""The map format: the sample hospital loads, bad documents are refused with the entry named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from wayfinding.errors import MapFormatError, UnknownPlace
from wayfinding.mapfile import SAMPLE_MAP, load_map, sample_map
from wayfinding.model import EddystoneUidId, IBeaconId, parse_map


def _raw() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE_MAP.read_text(encoding="utf-8"))


def test_sample_hospital_matches_the_brief() -> None:
    hospital = sample_map()
    assert sorted(f.level for f in hospital.floors.values()) == [1, 2]
    departments = [p for p in hospital.places.values() if p.kind == "department"]
    assert len(departments) >= 10
    assert all(p.name.en and p.name.zh for p in departments)
    assert {e.kind for e in hospital.edges} >= {"corridor", "door", "lift", "stairs"}
    assert len(hospital.kiosks) == 2
    # One beacon per 30-50 m² of walkable area (every place's polygon counts as walkable).
    for floor in hospital.floors:
        area = sum(_area(p.polygon) for p in hospital.places.values() if p.floor == floor)
        beacons = sum(1 for b in hospital.beacons if b.floor == floor)
        assert 30 <= area / beacons <= 50
    kinds = {type(b.identity) for b in hospital.beacons}
    assert kinds == {IBeaconId, EddystoneUidId}


def _area(polygon: tuple[tuple[float, float], ...]) -> float:
    return (
        abs(
            sum(
                polygon[i][0] * polygon[(i + 1) % len(polygon)][1]
                - polygon[(i + 1) % len(polygon)][0] * polygon[i][1]
                for i in range(len(polygon))
            )
        )
        / 2
    )


def test_place_lookup() -> None:
    hospital = sample_map()
    assert hospital.place_at("F1", 13, 20).id == "radiology"  # type: ignore[union-attr]
    assert hospital.place_at("F1", 30, 13).id == "F1-corridor"  # type: ignore[union-attr]
    assert hospital.place_at("F1", 2, 22) is None  # outside every place
    with pytest.raises(UnknownPlace, match="'nowhere'"):
        hospital.endpoint("nowhere")


def test_json_maps_load_too(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(_raw(), ensure_ascii=False), encoding="utf-8")
    assert load_map(path).id == "sample-hospital"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(version=2), "version 1 only"),
        (lambda m: m.update(format="other"), "expected 'caredge.wayfinding.map'"),
        (lambda m: m.update(colour="red"), "unknown field"),
        (lambda m: m["nodes"].append(dict(m["nodes"][0])), "duplicate id"),
        (lambda m: m["edges"].append({"from": "F1-lift", "to": "nowhere"}), "unknown node"),
        (lambda m: m["edges"].append({"from": "F1-lift", "to": "F2-lift"}), "join floors"),
        (
            lambda m: m["edges"].append({"from": "F1-lift", "to": "F2-lift", "kind": "lift"}),
            "needs length_m",
        ),
        (lambda m: m["places"][0].update(floor="F9"), "unknown floor"),
        (lambda m: m["places"][0]["name"].pop("zh"), "missing zh"),
        (lambda m: m["beacons"][0].update(measured_power=-300), "signed byte"),
        (lambda m: m["beacons"][1].update(ibeacon=m["beacons"][0]["ibeacon"]), "used twice"),
        (lambda m: m["beacons"][0]["ibeacon"].update(major=70000), "0..65535"),
        (
            lambda m: m["beacons"][0].update(eddystone_uid={"namespace": "00", "instance": "00"}),
            "exactly one",
        ),
        (lambda m: m["nodes"][0].update(x="east"), "not a finite number"),
    ],
)
def test_bad_maps_are_refused(change: Any, message: str) -> None:
    raw = copy.deepcopy(_raw())
    change(raw)
    with pytest.raises(MapFormatError, match=message):
        parse_map(raw)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(MapFormatError, match="cannot read"):
        load_map(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("floors: [", encoding="utf-8")
    with pytest.raises(MapFormatError, match="not valid"):
        load_map(broken)
