"""Pure kiosk logic: masking, QR appointment codes, opaque tokens, the rate-limit window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.kiosk.masking import mask_identifier, mask_name
from cloud.kiosk.qr_tokens import (
    QrTokenError,
    QrTokenExpiredError,
    derive_key,
    make_qr_token,
    verify_qr_token,
)
from cloud.kiosk.rate_limit import locked_for
from cloud.kiosk.tokens import DEVICE_PREFIX, hash_token, new_token

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
KEY = derive_key("test-secret")


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小三", "张*三"),
        ("王芳", "王*"),
        ("欧阳明华", "欧**华"),
        ("李", "李"),
        ("Wang Fang", "Wang F***"),
        ("Mary  Ann Smith", "Mary A*** S***"),
        ("Madonna", "Madonna"),
        ("  ", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110101194803021234", "110***1234"),
        ("1000000001", "100***0001"),
        ("12345678", "123***5678"),
        ("P12345", "***45"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_identifier(value: str, masked: str) -> None:
    assert mask_identifier(value) == masked


def test_qr_token_round_trip_and_scanner_safe_alphabet() -> None:
    token = make_qr_token(appointment_id=42, expires_at=NOW + timedelta(hours=1), key=KEY)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_")
    claims = verify_qr_token(f"  {token}\n", key=KEY, now=NOW)  # scanners append Enter
    assert claims.appointment_id == 42
    assert claims.expires_at == NOW + timedelta(hours=1)


def test_qr_token_expires_exactly_at_its_expiry() -> None:
    token = make_qr_token(appointment_id=1, expires_at=NOW, key=KEY)
    verify_qr_token(token, key=KEY, now=NOW - timedelta(seconds=1))
    with pytest.raises(QrTokenExpiredError) as caught:
        verify_qr_token(token, key=KEY, now=NOW)
    assert caught.value.reason == "qr_expired"


def _forgeries() -> list[str]:
    good = make_qr_token(appointment_id=7, expires_at=NOW + timedelta(days=1), key=KEY)
    version, appointment, expiry, signature = good.split(".")
    other_key = make_qr_token(
        appointment_id=7, expires_at=NOW + timedelta(days=1), key=derive_key("other")
    )
    return [
        f"{version}.8.{expiry}.{signature}",  # another appointment, same signature
        f"{version}.{appointment}.{int(expiry) + 86400}.{signature}",  # extended expiry
        other_key,  # signed with another secret
        f"{version}.{appointment}.{expiry}.{signature[:-1]}",
        "A2." + good.split(".", 1)[1],
        "hello world",
        "A1.7.abc.sig",
        "A1.七.1.x",
        "x" * 500,
        "",
    ]


@pytest.mark.parametrize("forged", _forgeries())
def test_forged_or_malformed_qr_tokens_are_refused(forged: str) -> None:
    with pytest.raises(QrTokenError) as caught:
        verify_qr_token(forged, key=KEY, now=NOW)
    assert caught.value.reason == "qr_invalid"


def test_device_tokens_are_random_and_stored_as_hashes() -> None:
    first, second = new_token(DEVICE_PREFIX), new_token(DEVICE_PREFIX)
    assert first != second and first.startswith("ckd_") and len(first) > 40
    assert hash_token(first) == hash_token(first) != hash_token(second)
    assert first not in hash_token(first)


def test_lock_starts_at_the_limit_and_lifts_when_the_oldest_counted_failure_leaves() -> None:
    window = timedelta(minutes=15)
    failures = [NOW - timedelta(minutes=m) for m in (14, 10, 5, 1)]
    assert locked_for(failures, now=NOW, window=window, limit=5) is None
    failures.append(NOW)
    assert locked_for(failures, now=NOW, window=window, limit=5) == timedelta(minutes=1)
    assert locked_for(failures, now=NOW + timedelta(minutes=1), window=window, limit=5) is None
    old = [NOW - timedelta(minutes=20)] * 10
    assert locked_for(old, now=NOW, window=window, limit=5) is None
