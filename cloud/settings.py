"""The one validated configuration of the cloud side, from ``CAREDGE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.broker_url import MqttEndpoint
from protocol.topics import INGEST_SUBSCRIPTION

DEV_SECRET = "dev-only-insecure-secret-change-me"
DEFAULT_VAR_DIR = Path("var")


class Settings(BaseSettings):
    """caredge configuration; secrets hide in ``repr`` and are refused at defaults in production."""

    model_config = SettingsConfigDict(env_prefix="CAREDGE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = ""
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_ca_file: Path | None = None
    mqtt_client_id: str = "caredge-ingest-1"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    ingest_topic: str = INGEST_SUBSCRIPTION
    tsdb_url: str = "sql"
    tsdb_bucket: str = "caredge"
    tsdb_org: str = "caredge"
    tsdb_token: SecretStr = SecretStr("")
    tsdb_durable_writes: bool = True
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    access_token_minutes: int = 60
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    ingest_batch_size: int = 1000
    ingest_batch_seconds: float = 0.02
    #: The longest a saturated worker keeps a batch open (cloud/ingest/batch_window.py).
    ingest_batch_max_seconds: float = 0.25
    #: Readings per second one gateway may send before the ingest worker drops (and PUBACKs)
    #: the excess unconfirmed, so the gateway sends it again later; 0 turns the limit off.
    ingest_gateway_rate: float = 50.0
    #: Readings a gateway may send at once above its rate (a backlog after an outage).
    ingest_gateway_burst: int = 2000
    #: Larger reading payloads are dead letters (a valid one encodes to under 1 KiB).
    ingest_max_payload_bytes: int = 4096
    log_level: str = "INFO"
    #: The hospital paging/SMS webhook (empty: webhook notifications fail and are reported).
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout_seconds: float = 5.0
    notify_mqtt_client_id: str = "caredge-notify-1"
    #: How often the API polls SQL for alert changes and console pages (seconds) when it is not
    #: listening for PostgreSQL notifications (SQLite, lost LISTEN connection, listen off).
    console_poll_seconds: float = 0.075
    #: Wake the console feed on PostgreSQL NOTIFY (docs/console.md, "Live updates").
    console_listen: bool = True
    #: The fallback poll of the console feed while LISTEN is active (seconds).
    console_listen_poll_seconds: float = 1.0
    #: The hospital map for wayfinding (format: docs/wayfinding.md); None: the sample hospital.
    wayfinding_map: Path | None = None
    #: The hospital's IANA time zone: appointment days and queue numbers follow its calendar.
    hospital_timezone: str = "Asia/Shanghai"
    #: The payment provider's pay page; bills link to it with ?bill=&amount=&currency= (empty: off).
    payment_url: str = ""
    #: Lifetime of a kiosk patient session token (the kiosk also wipes it when idle).
    kiosk_session_minutes: int = 10
    #: Failed kiosk identifications counted over this window for rate limiting.
    kiosk_failure_window_minutes: int = 15
    kiosk_max_failures_per_patient: int = 5
    kiosk_max_failures_per_kiosk: int = 20

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'caredge.db'}"
        MqttEndpoint.parse(self.mqtt_url)
        if self.env == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("CAREDGE_SECRET_KEY must be set to a real secret in production")
        if self.webhook_url and not self.webhook_secret.get_secret_value():
            raise ValueError("CAREDGE_WEBHOOK_SECRET must be set when CAREDGE_WEBHOOK_URL is")
        if not (self.tsdb_url == "sql" or self.tsdb_url.startswith(("http://", "https://"))):
            raise ValueError("CAREDGE_TSDB_URL must be 'sql' or an http(s):// URL")
        try:
            ZoneInfo(self.hospital_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"CAREDGE_HOSPITAL_TIMEZONE: unknown time zone {exc}") from exc
        if self.payment_url and not self.payment_url.startswith(("http://", "https://")):
            raise ValueError("CAREDGE_PAYMENT_URL must be an http(s):// URL")
        for name in ("kiosk_session_minutes", "kiosk_failure_window_minutes"):
            if getattr(self, name) < 1:
                raise ValueError(f"CAREDGE_{name.upper()} must be at least 1")
        if self.ingest_gateway_rate < 0 or self.ingest_gateway_burst < 1:
            raise ValueError("CAREDGE_INGEST_GATEWAY_RATE must be ≥ 0 and _BURST at least 1")
        if self.ingest_max_payload_bytes < 1:
            raise ValueError("CAREDGE_INGEST_MAX_PAYLOAD_BYTES must be at least 1")
        if self.console_poll_seconds <= 0 or self.console_listen_poll_seconds <= 0:
            raise ValueError("CAREDGE_CONSOLE_*POLL_SECONDS must be positive")
        if self.kiosk_max_failures_per_patient < 1 or self.kiosk_max_failures_per_kiosk < 1:
            raise ValueError("CAREDGE_KIOSK_MAX_FAILURES_* must be at least 1")
        return self

    @property
    def hospital_zone(self) -> ZoneInfo:
        """The hospital's time zone."""
        return ZoneInfo(self.hospital_timezone)

    @property
    def mqtt(self) -> MqttEndpoint:
        """The broker endpoint parsed from ``mqtt_url``."""
        return MqttEndpoint.parse(self.mqtt_url)


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once from the environment."""
    return Settings()
