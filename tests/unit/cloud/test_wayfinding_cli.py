"""``caredge wayfinding simulate-walk`` and ``caredge wayfinding eval``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cloud.cli import app
from wayfinding.mapfile import SAMPLE_MAP

runner = CliRunner()


def test_simulate_then_eval(tmp_path: Path) -> None:
    walk = tmp_path / "walk.jsonl"
    made = runner.invoke(
        app,
        [
            "wayfinding",
            "simulate-walk",
            "--from",
            "kiosk-f1",
            "--to",
            "laboratory",
            "--out",
            str(walk),
            "--seed",
            "7",
        ],
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["samples"] == sum(1 for _ in walk.open()) - 1
    figures = {}
    for solver in ("caredge", "nearest", "trilateration"):
        result = runner.invoke(
            app,
            [
                "wayfinding",
                "eval",
                "--map",
                str(SAMPLE_MAP),
                "--walk",
                str(walk),
                "--solver",
                solver,
            ],
        )
        assert result.exit_code == 0, result.output
        figures[solver] = json.loads(result.output)
    ours = figures["caredge"]
    assert set(ours) == {
        "map",
        "solver",
        "fixes",
        "median_error_m",
        "p90_error_m",
        "floor_accuracy",
        "room_accuracy",
    }
    assert ours["map"] == "sample-hospital" and ours["fixes"] > 20
    assert ours["floor_accuracy"] == 1.0  # one floor only
    assert ours["median_error_m"] < 1.5 and ours["room_accuracy"] > 0.85
    assert ours["median_error_m"] < figures["nearest"]["median_error_m"]


def test_eval_refuses_bad_input_clearly(tmp_path: Path) -> None:
    walk = tmp_path / "walk.jsonl"
    walk.write_text('{"format": "caredge.wayfinding.walk", "version": 1}\n{broken\n')
    result = runner.invoke(
        app, ["wayfinding", "eval", "--map", str(SAMPLE_MAP), "--walk", str(walk)]
    )
    assert result.exit_code == 2 and "walk line 2: not JSON" in result.output
    missing = runner.invoke(
        app, ["wayfinding", "eval", "--map", str(SAMPLE_MAP), "--walk", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2 and "cannot read" in missing.output
    solver = runner.invoke(
        app,
        ["wayfinding", "eval", "--map", str(SAMPLE_MAP), "--walk", str(walk), "--solver", "magic"],
    )
    assert solver.exit_code == 2 and "caredge, nearest, trilateration" in solver.output
    unknown = runner.invoke(
        app,
        [
            "wayfinding",
            "simulate-walk",
            "--from",
            "kiosk-f1",
            "--to",
            "mars",
            "--out",
            str(tmp_path / "w.jsonl"),
        ],
    )
    assert unknown.exit_code == 2 and "unknown place 'mars'" in unknown.output
