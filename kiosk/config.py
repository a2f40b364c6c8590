"""Kiosk configuration from ``CAREDGE_KIOSK_*`` environment variables (printers: printing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KioskConfig(BaseSettings):
    """Where the API is, the device token, the screen and the idle timeout of one kiosk."""

    model_config = SettingsConfigDict(env_prefix="CAREDGE_KIOSK_", extra="ignore")

    api_url: str = "http://127.0.0.1:8000"
    token: SecretStr = SecretStr("")
    language: Literal["zh", "en"] = "zh"
    elder: bool = False
    fullscreen: bool = True
    #: Seconds without a touch before the "are you still here?" countdown starts.
    idle_seconds: float = Field(default=90.0, gt=0)
    #: Seconds the countdown is visible before the session is wiped.
    countdown_seconds: float = Field(default=15.0, gt=0)
    #: Elder mode multiplies both times: no timed step the user cannot comfortably extend.
    elder_time_factor: float = Field(default=2.0, ge=1)
    #: Seconds between connection checks while the API is unreachable.
    reconnect_seconds: float = Field(default=10.0, gt=0)
    #: HTTP timeout per request, seconds.
    http_timeout_seconds: float = Field(default=8.0, gt=0)
    #: Spoken prompts in elder mode (espeak-ng, when installed).
    speech: bool = True
    #: Where this kiosk stands on the wayfinding map (a kiosk id of the map).
    wayfinding_from: str = "kiosk-f1"
    #: Base URL a phone opens the route page at (the QR code); default: api_url. Set it when
    #: the kiosk reaches the API on an address patients' phones cannot.
    public_url: str = ""
    hospital_name_zh: str = "示范医院"
    hospital_name_en: str = "Demo Hospital"
    #: The hospital's time zone, for appointment times on screen.
    timezone: str = "Asia/Shanghai"

    @field_validator("api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if (value or info.field_name == "api_url") and not value.startswith(
            ("http://", "https://")
        ):
            name = f"CAREDGE_KIOSK_{str(info.field_name).upper()}"
            raise ValueError(f"{name} must start with http:// or https://")
        return value.rstrip("/")

    @property
    def route_page_base(self) -> str:
        """Where phones open route pages."""
        return self.public_url or self.api_url
