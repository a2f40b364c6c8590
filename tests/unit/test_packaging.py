"""Every package folder is listed in pyproject.toml, so wheels and Docker images are complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_is_listed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = {"firmware_sim": "firmware-sim"} | {
        top: top for top in ("protocol", "edge", "cloud", "kiosk")
    }
    found = set()
    for name, folder in dirs.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *relative)))
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
