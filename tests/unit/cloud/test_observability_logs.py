"""Structured logs: the JSON formatter, bound ids, the API's request ids in and out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.testing import ApiHarness, make_harness
from cloud.observability.api_metrics import request_id_from
from cloud.observability.logs import (
    bind,
    bound,
    configure_logging,
    make_handler,
    payload_fields,
    reading_id,
)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a buffer."""
    buffer = io.StringIO()
    logger = logging.getLogger("test.observability.json")
    handler = make_handler("json", buffer)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_message_level_logger_and_extra(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    logger.warning("dead letter from %s: %s", "gw1", "not JSON", extra={"topic": "t/1"})
    (entry,) = lines(buffer)
    assert entry["message"] == "dead letter from gw1: not JSON"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "test.observability.json"
    assert entry["topic"] == "t/1"
    assert str(entry["ts"]).endswith("+00:00")
    assert "args" not in entry and "msg" not in entry


def test_bound_ids_reach_every_record_and_leave_with_the_block(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    with bind(request_id="r-1"):
        with bind(reading_id=reading_id("gw1", "bp-gw1", 17)):
            assert bound() == {"request_id": "r-1", "reading_id": "gw1/bp-gw1/17"}
            logger.info("stored")
        logger.info("answered")
    logger.info("idle")
    stored, answered, idle = lines(buffer)
    assert (stored["request_id"], stored["reading_id"]) == ("r-1", "gw1/bp-gw1/17")
    assert answered["request_id"] == "r-1" and "reading_id" not in answered
    assert "request_id" not in idle
    assert bound() == {}


def test_exceptions_and_unicode_stay_on_one_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("收缩压 failed")
    assert len(buffer.getvalue().splitlines()) == 1
    (entry,) = lines(buffer)
    assert entry["message"] == "收缩压 failed"
    assert "ValueError: bad value" in str(entry["exc"])


def test_configure_logging_replaces_root_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logging("info", "json")
        assert len(root.handlers) == 1
        logging.getLogger("test.root").info("hello %d", 3)
        assert json.loads(capsys.readouterr().err.splitlines()[-1])["message"] == "hello 3"
        configure_logging("debug", "text")
        logging.getLogger("test.root").debug("plain")
        assert capsys.readouterr().err.rstrip().endswith("DEBUG test.root: plain")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


def test_request_ids_from_callers_are_kept_only_when_safe() -> None:
    assert request_id_from("abc-123.x:y_z") == "abc-123.x:y_z"
    for bad in (None, "", "a b", "x" * 65, "evil\r\nSet-Cookie: 1"):
        generated = request_id_from(bad)
        assert generated != bad and len(generated) == 32


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def test_api_echoes_request_ids_and_logs_them(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    @api.app.get("/test-log")
    def logs_something() -> dict[str, str]:
        logging.getLogger("cloud.test").info("inside the request")
        return {}

    caplog.set_level(logging.DEBUG)
    # caplog's handler has no ContextFilter: the ids must be on the records it sees anyway.
    handler = make_handler("json", io.StringIO())
    caplog.handler.addFilter(handler.filters[0])
    response = api.client.get("/test-log", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    inside = [r for r in caplog.records if r.getMessage() == "inside the request"]
    assert [getattr(r, "request_id", None) for r in inside] == ["req-42"]
    (access,) = [r for r in caplog.records if r.name == "cloud.access"]
    assert access.levelno == logging.INFO
    assert (access.route, access.status, access.request_id) == ("/test-log", 200, "req-42")  # type: ignore[attr-defined]
    fresh = api.client.get("/healthz", headers={"X-Request-ID": "no spaces allowed"})
    assert len(fresh.headers["x-request-id"]) == 32
    probe = [r for r in caplog.records if r.name == "cloud.access" and r.path == "/healthz"]  # type: ignore[attr-defined]
    assert probe[0].levelno == logging.DEBUG


def test_payload_fields_name_the_reading_when_the_payload_allows() -> None:
    topic = "caredge/v1/gw/gw1/reading"
    good = b'{"gateway_id": "gw1", "device_id": "bp-gw1", "seq": 7, "kind": "weight"}'
    assert payload_fields(topic, good) == {"topic": topic, "reading_id": "gw1/bp-gw1/7"}
    for bad in (b"{nope", b"[1]", b'{"gateway_id": "gw1", "device_id": "d", "seq": true}',
                b"\xff\xfe", b'{"gateway_id": 1, "device_id": "d", "seq": 1}'):  # fmt: skip
        assert payload_fields(topic, bad) == {"topic": topic}
