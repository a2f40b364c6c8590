"""Where the MQTT broker is: the ``mqtt://`` / ``mqtts://`` URL both sides are configured with.

Pure (no I/O); shared by the gateway and the cloud so both read broker URLs the same way.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr


class MqttEndpoint(BaseModel):
    """A parsed ``mqtt://user:pass@host:port`` or ``mqtts://`` URL (password kept secret)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: SecretStr | None = None

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """Parse an MQTT URL; raise ValueError with the reason when it is not one."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {redact(url)!r}")
        if not parts.hostname:
            raise ValueError(f"MQTT URL has no host: {redact(url)!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(parts.password)) if parts.password else None,
        )


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, for logs and repr."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{f'[{host}]' if ':' in host else host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
