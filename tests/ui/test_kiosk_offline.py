"""API unreachable: the kiosk says so plainly and turns off what needs the network."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.fixtures.ports import free_port
from tests.ui.kiosk_fixtures import display  # noqa: F401  (fixture)
from tests.ui.kiosk_support import Driver, run_kiosk

pytestmark = [pytest.mark.ui, pytest.mark.integration]


def offline_welcome(d: Driver) -> Generator[float, None, None]:
    yield 0.5
    d.record("welcome")
    d.record("start_disabled", d.find("start").disabled)
    yield from d.tap("start")
    d.record("after_tap", d.screen())
    yield from d.tap("lang_en")
    d.record("welcome_en")


def test_unreachable_api_is_said_plainly_and_start_is_off(display: str, tmp_path: Path) -> None:  # noqa: F811
    run = run_kiosk(
        "tests.ui.test_kiosk_offline:offline_welcome",
        display=display,
        workdir=tmp_path,
        env={
            "CAREDGE_KIOSK_API_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
            "CAREDGE_KIOSK_TOKEN": "ckd_not-needed-offline",
            "CAREDGE_KIOSK_HTTP_TIMEOUT_SECONDS": "2",
        },
    )
    assert run.ok, f"{run.error}\n{run.log[-4000:]}"
    records = run.records
    assert "网络中断，请到服务台办理" in records["welcome"]
    assert any("暂时无法连接医院系统" in t for t in records["welcome"]), records["welcome"]
    assert records["start_disabled"] is True
    assert records["after_tap"] == "welcome"
    assert "Offline — please use the service desk" in records["welcome_en"]
