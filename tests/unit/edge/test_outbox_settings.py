"""GatewaySettings and the status payload, as the outbox and the uplink use them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.settings import GatewaySettings, MqttEndpoint, redact
from edge.uplink import status_payload


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CAREDGE_"):
            monkeypatch.delenv(name)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREDGE_GATEWAY_ID", "home-42")
    monkeypatch.setenv("CAREDGE_MQTT_URL", "mqtts://gw-home-42:s3cr%40t@broker.example:8884")
    monkeypatch.setenv("CAREDGE_INFLIGHT_WINDOW", "50")
    settings = GatewaySettings()
    assert settings.outbox_file == Path("var/gateway-home-42/outbox.db")
    assert settings.mqtt_client_id == "caredge-gw-home-42"
    assert settings.inflight_window == 50
    assert settings.ble == "bluez"
    endpoint = settings.mqtt
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("broker.example", 8884, True)
    assert endpoint.username == "gw-home-42"
    assert endpoint.password is not None and endpoint.password.get_secret_value() == "s3cr@t"


def test_the_password_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREDGE_GATEWAY_ID", "gw1")
    monkeypatch.setenv("CAREDGE_MQTT_URL", "mqtt://gw1:hunter2@127.0.0.1:1883")
    settings = GatewaySettings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert "hunter2" not in repr(settings.mqtt)
    monkeypatch.setenv("CAREDGE_MQTT_URL", "http://gw1:hunter2@127.0.0.1:1883")
    with pytest.raises(ValidationError) as error:
        GatewaySettings()
    assert "hunter2" not in str(error.value)


def test_gateway_id_is_required_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings()
    with pytest.raises(ValidationError):
        GatewaySettings(gateway_id="has/slash")


@pytest.mark.parametrize("window", [0, 65_535])
def test_inflight_window_stays_inside_the_packet_id_space(window: int) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(gateway_id="gw1", inflight_window=window)


def test_mqtt_urls() -> None:
    assert MqttEndpoint.parse("mqtt://h").port == 1883
    assert MqttEndpoint.parse("mqtts://h").port == 8883
    assert redact("mqtt://u:p@[::1]:5") == "mqtt://u:***@[::1]:5"
    assert redact("mqtt://h:5") == "mqtt://h:5"
    with pytest.raises(ValueError, match="no host"):
        MqttEndpoint.parse("mqtt://")


def test_status_payload_keeps_the_gateway_fields_authoritative() -> None:
    at = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    body = json.loads(
        status_payload(
            "gw1",
            online=True,
            at=at,
            extra={"online": "spoofed", "meters": {"bp-1": {"battery": 80}}},
        )
    )
    assert body == {
        "v": 1,
        "gateway_id": "gw1",
        "online": True,
        "at": "2026-11-01T06:00:00+00:00",
        "meters": {"bp-1": {"battery": 80}},
    }
    will = json.loads(status_payload("gw1", online=False, reason="connection lost"))
    assert will == {"v": 1, "gateway_id": "gw1", "online": False, "reason": "connection lost"}
