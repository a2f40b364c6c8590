"""Webhook signatures: HMAC-SHA256 over timestamp and raw body, replay window."""

from __future__ import annotations

import hashlib
import hmac

from cloud.notify.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers, verify

SECRET = "whsec-test"
BODY = '{"notification_id":7,"alert":{"message_zh":"高血压危象"}}'.encode()
T = 1_790_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Independent arithmetic: what a receiver in any language computes.
    expected = hmac.new(SECRET.encode(), b"1790000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, timestamp=T, secret=SECRET) == f"sha256={expected}"
    headers = signed_headers(BODY, timestamp=T, secret=SECRET)
    assert headers == {TIMESTAMP_HEADER: "1790000000", SIGNATURE_HEADER: f"sha256={expected}"}


def test_known_vector() -> None:
    # Pinned so a change of the scheme cannot pass unnoticed (computed with `openssl dgst
    # -sha256 -hmac key` over the bytes "1.{}").
    assert sign(b"{}", timestamp=1, secret="key") == (
        "sha256=" + hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
    )


def test_verify_accepts_fresh_and_refuses_tampering_replay_and_wrong_secret() -> None:
    signature = sign(BODY, timestamp=T, secret=SECRET)
    assert verify(BODY, timestamp=str(T), signature=signature, secret=SECRET, now=T + 10)
    assert not verify(BODY + b" ", timestamp=str(T), signature=signature, secret=SECRET, now=T)
    assert not verify(BODY, timestamp=str(T + 1), signature=signature, secret=SECRET, now=T)
    assert not verify(BODY, timestamp=str(T), signature=signature, secret="other", now=T)
    # A captured request replayed after the tolerance window is refused.
    assert not verify(BODY, timestamp=str(T), signature=signature, secret=SECRET, now=T + 301)
    assert not verify(BODY, timestamp=str(T), signature=signature, secret=SECRET, now=T - 301)
    assert not verify(BODY, timestamp="yesterday", signature=signature, secret=SECRET, now=T)
    assert not verify(BODY, timestamp=str(T), signature="sha256=00", secret=SECRET, now=T)
    assert not verify(BODY, timestamp=str(T), signature="sha256=é", secret=SECRET, now=T)
