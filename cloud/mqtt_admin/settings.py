"""Settings of ``caredge mqtt``: where Mosquitto's files are and the service-account secrets."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.mqtt_admin.accounts import DEFAULT_INGEST_USERNAME, DEFAULT_NOTIFIER_USERNAME


class MqttAdminSettings(BaseSettings):
    """``CAREDGE_MQTT_*`` variables read by provisioning only (secrets hidden in ``repr``).

    An empty service password leaves that account out of the password file (and says so), so
    its service cannot connect: set both in production.
    """

    model_config = SettingsConfigDict(
        env_prefix="CAREDGE_MQTT_", extra="ignore", hide_input_in_errors=True
    )

    password_file: Path = Path("var/mosquitto/passwords")
    acl_file: Path = Path("var/mosquitto/acl")
    ingest_username: str = DEFAULT_INGEST_USERNAME
    ingest_password: SecretStr = SecretStr("")
    notifier_username: str = DEFAULT_NOTIFIER_USERNAME
    notifier_password: SecretStr = SecretStr("")
    #: Derives every nurse device's password (cloud/mqtt_admin/nurse_credentials.py).
    nurse_key: SecretStr = SecretStr("")
