"""Reading map files (YAML or JSON) from disk; the sample hospital ships inside the package."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml

from wayfinding.errors import MapFormatError
from wayfinding.model import HospitalMap, parse_map

SAMPLE_MAP = Path(__file__).resolve().parent / "maps" / "sample-hospital.yaml"


def load_map(path: Path | str) -> HospitalMap:
    """Parse the map at path (.json as JSON, anything else as YAML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MapFormatError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MapFormatError(str(path), f"not UTF-8: {exc}") from exc
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise MapFormatError(str(path), f"not valid {path.suffix or 'YAML'}: {exc}") from exc
    return parse_map(raw)


@lru_cache(maxsize=1)
def sample_map() -> HospitalMap:
    """The two-floor sample hospital (parsed once per process)."""
    return load_map(SAMPLE_MAP)
