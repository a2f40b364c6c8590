"""Opaque bearer tokens for kiosk devices and patient sessions, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

#: Prefixes tell the token kinds apart at a glance (and in leaked-secret scanners).
DEVICE_PREFIX = "ckd_"
SESSION_PREFIX = "cps_"
_ENTROPY_BYTES = 32


def new_token(prefix: str) -> str:
    """A fresh token: prefix and 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(_ENTROPY_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token; high-entropy tokens need no salt or slow hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
