"""Gateway MQTT password rotation: a new password whose hash replaces the old one."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from cloud.audit.service import record
from cloud.devices.mqtt_credentials import mosquitto_hash, new_password
from cloud.devices.service import get_gateway_or_raise

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 16


def rotate_gateway_password(
    session: Session, *, gateway_id: str, actor: str, password: str | None = None
) -> str:
    """Give gateway_id a new MQTT password (random unless given) and return it.

    Only the hash is stored. The broker accepts the new password, and refuses the old one, once
    ``caredge mqtt provision`` has rewritten its files and it has reloaded them.
    """
    gateway = get_gateway_or_raise(session, gateway_id=gateway_id)
    if password is None:
        password = new_password()
    elif len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"an MQTT password needs at least {MIN_PASSWORD_CHARS} characters")
    gateway.mqtt_password_hash = mosquitto_hash(password)
    record(session, actor=actor, action="gateways.rotate_mqtt_password",
           target=f"gateway:{gateway_id}")  # fmt: skip
    log.info("gateway %s MQTT password rotated by %s", gateway_id, actor)
    return password
