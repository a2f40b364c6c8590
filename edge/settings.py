"""The gateway's one validated configuration, from ``CAREDGE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.broker_url import MqttEndpoint, redact
from protocol.topics import check_id

DEFAULT_VAR_DIR = Path("var")
#: MQTT packet identifiers are 16-bit; half the space leaves room for status messages and
#: keeps a packet id from being reused while its previous PUBACK is still being handled.
MAX_INFLIGHT_WINDOW = 32_767


class GatewaySettings(BaseSettings):
    """Configuration of one home gateway; the MQTT password never appears in ``repr``."""

    # hide_input_in_errors: a validation error would otherwise print the URL with its password.
    model_config = SettingsConfigDict(
        env_prefix="CAREDGE_", extra="ignore", hide_input_in_errors=True
    )

    # Required: two gateways sharing an id would share an MQTT session and (gateway, device,
    # seq) keys, and the cloud would drop one gateway's readings as duplicates of the other's.
    gateway_id: str
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_ca_file: Path | None = None
    mqtt_client_id: str = ""
    #: "5" in production; "3.1.1" for brokers without MQTT 5 (the demo's embedded amqtt):
    #: same QoS 1 and persistent session, no session expiry or Receive Maximum.
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    outbox_path: Path | None = None
    outbox_max_rows: int = Field(default=100_000, ge=1)
    inflight_window: int = Field(default=100, ge=1, le=MAX_INFLIGHT_WINDOW)
    #: "cloud": a reading leaves the outbox when the ingest worker confirms it holds it, so a
    #: broker that loses its queue loses nothing; "broker": on the broker's PUBACK, for a cloud
    #: that sends no confirmations (docs/gateway.md, "Delivery confirmations").
    delivery_confirmation: Literal["cloud", "broker"] = "cloud"
    #: First wait for a confirmation before a reading is sent again; doubles per attempt.
    confirm_timeout_seconds: float = Field(default=30.0, gt=0)
    ble: str = "bluez"
    heartbeat_seconds: float = Field(default=60.0, gt=0)
    var_dir: Path = DEFAULT_VAR_DIR
    log_level: str = "INFO"

    @field_validator("gateway_id")
    @classmethod
    def _valid_gateway_id(cls, value: str) -> str:
        return check_id(value, "gateway_id")

    @model_validator(mode="after")
    def _defaults(self) -> GatewaySettings:
        MqttEndpoint.parse(self.mqtt_url)
        if self.outbox_path is None:
            self.outbox_path = self.var_dir / f"gateway-{self.gateway_id}" / "outbox.db"
        if not self.mqtt_client_id:
            self.mqtt_client_id = f"caredge-gw-{self.gateway_id}"
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        """The broker endpoint parsed from ``mqtt_url``."""
        return MqttEndpoint.parse(self.mqtt_url)

    @property
    def outbox_file(self) -> Path:
        """Where the outbox lives (``var/gateway-<id>/outbox.db`` unless configured)."""
        assert self.outbox_path is not None  # set by the validator
        return self.outbox_path

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact(value) if name == "mqtt_url" else value
