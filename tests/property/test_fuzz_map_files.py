"""Wayfinding map files edited by hand or damaged: loading one either gives a map or raises
MapFormatError naming where and why, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, seed
from hypothesis import strategies as st

from tests.property.conftest import FUZZ, FUZZ_SEED
from tests.property.strategies import JSON_LIKE, mutated_bytes
from wayfinding.errors import MapFormatError
from wayfinding.mapfile import SAMPLE_MAP, load_map
from wayfinding.model import parse_map

SAMPLE: dict[str, Any] = yaml.safe_load(SAMPLE_MAP.read_text(encoding="utf-8"))
SAMPLE_BYTES = SAMPLE_MAP.read_bytes()


@st.composite
def mutated_map(draw: st.DrawFn) -> Any:
    """The sample map with one value somewhere in it replaced by a hostile one."""
    document = yaml.safe_load(SAMPLE_BYTES)  # a fresh copy to damage
    node: Any = document
    for _ in range(draw(st.integers(1, 5))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
            if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
                node[key] = draw(JSON_LIKE)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if not isinstance(node[index], (dict, list)) or draw(st.booleans()):
                node[index] = draw(JSON_LIKE)
                break
            node = node[index]
        else:
            break
    return document


def _check(raw: Any) -> None:
    try:
        parse_map(raw)
    except MapFormatError as exc:
        assert str(exc).strip()


def test_sample_map_parses() -> None:
    parse_map(SAMPLE)


@seed(FUZZ_SEED)
@FUZZ
@given(raw=st.one_of(JSON_LIKE, mutated_map()))
def test_parse_map_raises_only_map_format_error(raw: Any) -> None:
    _check(raw)


@seed(FUZZ_SEED)
@FUZZ
@given(data=mutated_bytes(SAMPLE_BYTES), suffix=st.sampled_from([".yaml", ".json"]))
def test_load_map_of_damaged_files(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"map{suffix}"
        path.write_bytes(data)
        try:
            load_map(path)
        except MapFormatError as exc:
            assert str(exc).strip()
