"""Per-gateway MQTT passwords, hashed exactly as ``mosquitto_passwd`` 2.0 writes them.

Format (Mosquitto 2.0 ``password_file``, hash type 7 = PBKDF2-HMAC-SHA512):
``$7$<iterations>$<base64 salt>$<base64 hash>`` with a 12-byte salt, a 64-byte derived key
and standard base64 with padding. Mosquitto reads the iteration count from the string, so a
count above its own default (101) is accepted and costs brute force more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

MOSQUITTO_HASH_ID = 7
PBKDF2_ITERATIONS = 1000
SALT_BYTES = 12
KEY_BYTES = 64
_HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


def new_password() -> str:
    """A random MQTT password (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def mosquitto_hash(
    password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None
) -> str:
    """The ``$7$`` PBKDF2-SHA512 hash of password as Mosquitto's password file stores it."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, KEY_BYTES)
    salt_b64 = base64.b64encode(salt).decode("ascii")
    key_b64 = base64.b64encode(key).decode("ascii")
    return f"${MOSQUITTO_HASH_ID}${iterations}${salt_b64}${key_b64}"


def verify_mosquitto_hash(password: str, encoded: str) -> bool:
    """True if password matches a ``$7$`` hash (ours or mosquitto_passwd's)."""
    match = _HASH_RE.match(encoded)
    if not match:
        return False
    iterations = int(match.group(1))
    try:
        salt = base64.b64decode(match.group(2), validate=True)
        expected = base64.b64decode(match.group(3), validate=True)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8"), salt, iterations, len(expected)
    )
    return hmac.compare_digest(actual, expected)


def password_file_line(username: str, encoded: str) -> str:
    """One ``username:hash`` line of a Mosquitto password file."""
    if ":" in username or "\n" in username:
        raise ValueError(f"username {username!r} cannot appear in a password file")
    return f"{username}:{encoded}"
