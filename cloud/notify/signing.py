"""HMAC-SHA256 signatures of webhook bodies, with a timestamp against replays (pure).

The signed message is ``f"{timestamp}.".encode() + raw_body``: the receiver recomputes it
from the ``X-Caredge-Timestamp`` header and the raw request body, compares in constant time
with ``X-Caredge-Signature: sha256=<hex>``, and refuses timestamps older (or newer) than its
tolerance, so a captured request cannot be replayed later. Same scheme as Stripe's and
GitHub's webhook signatures.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Caredge-Signature"
TIMESTAMP_HEADER = "X-Caredge-Timestamp"
ID_HEADER = "X-Caredge-Notification-Id"
DEFAULT_TOLERANCE_S = 300
_PREFIX = "sha256="


def sign(body: bytes, *, timestamp: int, secret: str) -> str:
    """The signature header value ``sha256=<hex>`` of body sent at timestamp (Unix seconds)."""
    message = f"{timestamp}.".encode("ascii") + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signed_headers(body: bytes, *, timestamp: int, secret: str) -> dict[str, str]:
    """The timestamp and signature headers of a webhook request."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(body, timestamp=timestamp, secret=secret),
    }


def verify(
    body: bytes,
    *,
    timestamp: str,
    signature: str,
    secret: str,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True if signature is body's at timestamp and timestamp is within tolerance of now."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_s:
        return False
    expected = sign(body, timestamp=sent_at, secret=secret)
    return hmac.compare_digest(
        expected.encode("ascii"), signature.strip().encode("ascii", "replace")
    )
