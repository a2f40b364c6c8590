"""Observability options from ``CAREDGE_*`` environment variables (docs/observability.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ObservabilitySettings(BaseSettings):
    """Log format, the metrics/health ports of the ingest and scheduler processes, scrape auth.

    Port 0 turns a process's metrics and health server off. ``metrics_token`` (empty: none)
    makes every ``/metrics`` require ``Authorization: Bearer <token>``; the probes stay open.
    """

    model_config = SettingsConfigDict(env_prefix="CAREDGE_", extra="ignore")

    log_format: Literal["text", "json"] = "text"
    metrics_host: str = "127.0.0.1"
    ingest_metrics_port: int = Field(default=9101, ge=0, le=65535)
    scheduler_metrics_port: int = Field(default=9102, ge=0, le=65535)
    metrics_token: SecretStr = SecretStr("")
