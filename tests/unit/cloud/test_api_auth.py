"""Authentication and authorisation of the API: tokens, 401s, 403s per role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role, User
from cloud.auth.security import (
    ExpiredTokenError,
    TokenError,
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)
from cloud.db import transaction

KEY = "k" * 32
OTHER_KEY = "x" * 32


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


def _login(api: ApiHarness, username: str, password: str):  # type: ignore[no-untyped-def]
    return api.client.post("/api/v1/auth/token", data={"username": username, "password": password})


# --- passwords and tokens ---------------------------------------------------------------


def test_password_hash_is_salted_scrypt_with_parameters() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second
    scheme, params, _salt, _key = first.split("$")
    assert scheme == "scrypt"
    assert params == "n=16384,r=8,p=1"
    assert verify_password("s3cret", first)
    assert not verify_password("s3cret!", first)


@pytest.mark.parametrize(
    "encoded", ["", "plain", "scrypt$n=2,r=1$x$y", "bcrypt$a$b$c", "scrypt$n=3,r=1,p=1$AAAA$AAAA"]
)
def test_verify_password_refuses_malformed_hashes(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_token_carries_sub_role_exp_iat_and_unique_jti() -> None:
    one = create_access_token(subject="ann", role="nurse", secret=KEY, lifetime=timedelta(hours=1))
    two = create_access_token(subject="ann", role="nurse", secret=KEY, lifetime=timedelta(hours=1))
    claims = jwt.decode(one, KEY, algorithms=["HS256"])
    assert set(claims) == {"sub", "role", "exp", "iat", "jti"}
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"] != jwt.decode(two, KEY, algorithms=["HS256"])["jti"]
    decoded = decode_access_token(one, secret=KEY)
    assert (decoded.subject, decoded.role) == ("ann", "nurse")


def test_decode_refuses_expired_wrong_key_and_none_algorithm() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = create_access_token(
        subject="a", role="admin", secret=KEY, lifetime=timedelta(minutes=1), now=past
    )
    with pytest.raises(ExpiredTokenError):
        decode_access_token(expired, secret=KEY)
    other = create_access_token(subject="a", role="admin", secret=OTHER_KEY, lifetime=timedelta(1))
    with pytest.raises(TokenError, match="invalid token"):
        decode_access_token(other, secret=KEY)
    unsigned = jwt.encode(
        {"sub": "a", "role": "admin", "iat": 1, "exp": 2**40, "jti": "j"}, None, algorithm="none"
    )
    with pytest.raises(TokenError):
        decode_access_token(unsigned, secret=KEY)


# --- the token endpoint -----------------------------------------------------------------


def test_password_login_returns_bearer_token_and_me(api: ApiHarness) -> None:
    api.add_user("ann", Role.NURSE, password="correct horse", display_name="Ann")
    response = _login(api, "ann", "correct horse")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["role"] == "nurse"
    assert body["expires_in"] == api.settings.access_token_minutes * 60
    me = api.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "ann"
    assert me.json()["display_name"] == "Ann"
    assert "password_hash" not in me.json()


@pytest.mark.parametrize(("username", "password"), [("ann", "wrong"), ("nobody", "pw")])
def test_bad_credentials_are_401_with_bearer_challenge(
    api: ApiHarness, username: str, password: str
) -> None:
    api.add_user("ann", Role.NURSE, password="right")
    response = _login(api, username, password)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "incorrect username or password"}


def test_inactive_user_cannot_sign_in_nor_use_a_token(api: ApiHarness) -> None:
    headers = api.headers(Role.NURSE, "gone")
    api.add_user("gone2", Role.NURSE, password="pw")
    with transaction(api.sessions) as session:
        for user in session.query(User).filter(User.username.in_(["gone", "gone2"])):
            user.active = False
    assert _login(api, "gone2", "pw").status_code == 401
    response = api.client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]


# --- bearer token checks ----------------------------------------------------------------


def test_missing_token_is_401(api: ApiHarness) -> None:
    response = api.client.get("/api/v1/patients")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "missing bearer token" in response.json()["detail"]


def test_expired_token_is_401_saying_expired(api: ApiHarness) -> None:
    api.add_user("old", Role.ADMIN)
    token = create_access_token(
        subject="old",
        role="admin",
        secret=api.settings.secret_key.get_secret_value(),
        lifetime=timedelta(minutes=1),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    response = api.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_malformed_token_is_401_invalid(api: ApiHarness, token: str) -> None:
    response = api.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("invalid token")


def test_token_signed_with_another_key_is_401(api: ApiHarness) -> None:
    api.add_user("eve", Role.ADMIN)
    forged = create_access_token(
        subject="eve", role="admin", secret=OTHER_KEY, lifetime=timedelta(minutes=5)
    )
    response = api.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "signature" in response.json()["detail"].lower()


def test_token_of_unknown_user_is_401(api: ApiHarness) -> None:
    token = create_access_token(
        subject="ghost",
        role="admin",
        secret=api.settings.secret_key.get_secret_value(),
        lifetime=timedelta(minutes=5),
    )
    response = api.client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "unknown user" in response.json()["detail"]


# --- roles ------------------------------------------------------------------------------

PATIENT_READS = [
    "/api/v1/patients",
    "/api/v1/patients/1",
    "/api/v1/patients/1/readings",
    "/api/v1/patients/1/readings?every=1h",
    "/api/v1/dead-letters",
    "/api/v1/devices",
    "/api/v1/gateways",
]


@pytest.mark.parametrize("role", [Role.KIOSK, Role.GATEWAY])
@pytest.mark.parametrize("path", PATIENT_READS)
def test_kiosk_and_gateway_tokens_read_no_patient_data(
    api: ApiHarness, role: Role, path: str
) -> None:
    response = api.client.get(path, headers=api.headers(role))
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "admin" in detail
    assert f"your role is {role.value}" in detail


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/patients", {"mrn": "1", "name": "x", "birth_date": "1950-01-01"}),
        ("post", "/api/v1/gateways", {"id": "gw-1"}),
        ("post", "/api/v1/gateways/gw-1/devices", {}),
        ("post", "/api/v1/devices/d/bindings", {"patient_id": 1}),
        ("get", "/api/v1/dead-letters", None),
    ],
)
def test_nurse_cannot_administer(api: ApiHarness, method: str, path: str, body: object) -> None:
    response = api.client.request(method, path, json=body, headers=api.headers(Role.NURSE))
    assert response.status_code == 403
    assert response.json()["detail"] == "requires role admin; your role is nurse"


def test_nurse_reads_patients(api: ApiHarness) -> None:
    response = api.client.get("/api/v1/patients", headers=api.headers(Role.NURSE))
    assert response.status_code == 200
    forbidden = api.client.get("/api/v1/patients", headers=api.headers(Role.KIOSK))
    assert forbidden.json()["detail"] == "requires role admin or nurse; your role is kiosk"


def test_role_is_read_from_the_database_not_the_token(api: ApiHarness) -> None:
    headers = api.headers(Role.ADMIN, "demoted")
    with transaction(api.sessions) as session:
        session.query(User).filter(User.username == "demoted").one().role = Role.KIOSK.value
    assert api.client.get("/api/v1/patients", headers=headers).status_code == 403
