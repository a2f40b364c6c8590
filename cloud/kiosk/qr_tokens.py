"""Signed, expiring appointment tokens for the QR code of an appointment message (pure).

Format ``A1.<appointment id>.<expiry unix seconds>.<signature>``: only letters, digits, ``.``,
``-`` and ``_``, so a barcode scanner acting as a keyboard types it reliably under any layout.
The signature is HMAC-SHA256 over ``A1.<id>.<expiry>``, truncated to 128 bits, base64url;
its key is derived from the API secret for this purpose alone, so no other token verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = "A1"
_SIGNATURE_BYTES = 16
_MAX_LENGTH = 200


class QrTokenError(Exception):
    """A QR token that cannot be accepted; ``reason`` is a stable code for the kiosk."""

    reason = "qr_invalid"


class QrTokenExpiredError(QrTokenError):
    """A genuine token whose expiry has passed."""

    reason = "qr_expired"


@dataclass(frozen=True)
class QrClaims:
    """What a verified token says."""

    appointment_id: int
    expires_at: datetime


def derive_key(secret: str) -> bytes:
    """The QR signing key, derived from the API secret (domain separation)."""
    return hmac.new(secret.encode("utf-8"), b"caredge appointment qr v1", hashlib.sha256).digest()


def _sign(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_qr_token(*, appointment_id: int, expires_at: datetime, key: bytes) -> str:
    """A signed token naming the appointment, valid until expires_at."""
    message = f"{VERSION}.{appointment_id}.{int(expires_at.timestamp())}"
    return f"{message}.{_sign(key, message)}"


def verify_qr_token(token: str, *, key: bytes, now: datetime) -> QrClaims:
    """Check format, signature (constant time) and expiry; raise QrTokenError saying which."""
    token = token.strip()
    if len(token) > _MAX_LENGTH or not token.isascii():
        raise QrTokenError("not an appointment code")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        raise QrTokenError("not an appointment code")
    message = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(key, message), parts[3]):
        raise QrTokenError("appointment code signature does not match")
    expires_at = datetime.fromtimestamp(int(parts[2]), UTC)
    if now >= expires_at:
        raise QrTokenExpiredError(f"appointment code expired at {expires_at.isoformat()}")
    return QrClaims(appointment_id=int(parts[1]), expires_at=expires_at)
