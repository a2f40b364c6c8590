"""Password hashing (scrypt) and bearer tokens (JWT HS256); no database access here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt

#: scrypt cost (RFC 7914): N=2**14, r=8, p=1 uses 16 MiB and ~50 ms per hash.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
_SCHEME = "scrypt"
JWT_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "role", "exp", "iat", "jti"]


class TokenError(Exception):
    """A bearer token that cannot be accepted; the message says why, for the 401 detail."""


class ExpiredTokenError(TokenError):
    """The token was valid but its ``exp`` has passed."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """Salted scrypt hash encoded as ``scrypt$n=..,r=..,p=..$<salt b64>$<key b64>``."""
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_BYTES)
    return f"{_SCHEME}$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if password matches encoded (parameters read from it); constant-time compare."""
    try:
        scheme, params, salt_b64, key_b64 = encoded.split("$")
        if scheme != _SCHEME:
            return False
        cost = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(cost["n"]), int(cost["r"]), int(cost["p"])
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(key_b64, validate=True)
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, KeyError):  # malformed string or parameters OpenSSL refuses
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # maxmem must cover 128 * n * r bytes plus slack, or OpenSSL refuses the parameters.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r + 2**20
    )


@cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist (no user enumeration by timing)."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of an access token."""

    subject: str
    role: str
    issued_at: datetime
    expires_at: datetime
    token_id: str


def create_access_token(
    *, subject: str, role: str, secret: str, lifetime: timedelta, now: datetime | None = None
) -> str:
    """A signed HS256 JWT with claims sub, role, iat, exp and a unique jti."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": subject,
        "role": role,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> TokenClaims:
    """Verify signature, expiry and required claims; raise TokenError saying what is wrong."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError as exc:
        raise ExpiredTokenError("token expired; sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    if not isinstance(claims["sub"], str) or not isinstance(claims["role"], str):
        raise TokenError("invalid token: sub and role must be strings")
    return TokenClaims(
        subject=claims["sub"],
        role=claims["role"],
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        token_id=str(claims["jti"]),
    )
