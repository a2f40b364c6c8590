"""Nurse-device MQTT passwords, derived from one secret key (pure).

A nurse device's password is ``HMAC-SHA256(CAREDGE_MQTT_NURSE_KEY, "caredge-mqtt-nurse:<id>")``:
nothing per nurse is stored, ``caredge mqtt nurse-password`` shows it to whoever sets the device
up, and a device is revoked by turning the nurse's ``mqtt_enabled`` off (or deactivating the
nurse) and provisioning again. Changing the key rotates every nurse device at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

#: Shorter keys would make every nurse password guessable from one of them.
MIN_KEY_CHARS = 32


def nurse_password(key: str, nurse_id: int) -> str:
    """The MQTT password of nurse nurse_id's device (43 URL-safe characters, 256 bits)."""
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"the nurse MQTT key must have at least {MIN_KEY_CHARS} characters")
    message = f"caredge-mqtt-nurse:{nurse_id}".encode()
    digest = hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
