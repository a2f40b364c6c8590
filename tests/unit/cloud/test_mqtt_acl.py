"""Mosquitto accounts, ACL and password file generation, and provisioning from SQLite."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.devices.models import Gateway
from cloud.devices.mqtt_credentials import mosquitto_hash, verify_mosquitto_hash
from cloud.migrate import upgrade
from cloud.mqtt_admin.accounts import (
    AccountError,
    AclRule,
    MqttAccount,
    gateway_account,
    ingest_account,
    notifier_account,
    nurse_account,
    render_acl,
    render_password_file,
)
from cloud.mqtt_admin.nurse_credentials import nurse_password
from cloud.mqtt_admin.provision import ProvisionError, provision, signal_reload, write_atomically
from cloud.mqtt_admin.rotation import rotate_gateway_password
from cloud.mqtt_admin.settings import MqttAdminSettings
from cloud.notify.testing import seed_ward
from protocol.topics import TopicError
from tests.support import T0

HASH = mosquitto_hash("a-test-password", salt=b"0123456789ab")
KEY = "k" * 40


def test_gateway_account_grants_only_its_own_topics() -> None:
    account = gateway_account("gw-7", HASH)
    assert account.rules == (
        AclRule("write", "caredge/v1/gw/gw-7/reading"),
        AclRule("write", "caredge/v1/gw/gw-7/status"),
        AclRule("write", "caredge/v1/gw/gw-7/beacon"),
        AclRule("read", "caredge/v1/gw/gw-7/cmd"),
        AclRule("read", "caredge/v1/gw/gw-7/confirm"),
    )


def test_service_and_nurse_accounts() -> None:
    assert nurse_account(12, HASH).username == "nurse-12"
    assert nurse_account(12, HASH).rules == (AclRule("read", "caredge/v1/nurse/12/alerts"),)
    assert ingest_account("ing", HASH).rules == (
        AclRule("read", "caredge/v1/gw/+/reading"),
        AclRule("write", "caredge/v1/gw/+/confirm"),
    )
    assert notifier_account("ntf", HASH).rules == (AclRule("write", "caredge/v1/nurse/+/alerts"),)


def test_acl_and_password_file_text() -> None:
    accounts = [gateway_account("gw1", HASH), nurse_account(3, HASH)]
    assert render_password_file(accounts) == f"gw1:{HASH}\nnurse-3:{HASH}\n"
    acl = render_acl(accounts)
    assert acl.endswith(
        "\n# gateway\nuser gw1\n"
        "topic write caredge/v1/gw/gw1/reading\n"
        "topic write caredge/v1/gw/gw1/status\n"
        "topic write caredge/v1/gw/gw1/beacon\n"
        "topic read caredge/v1/gw/gw1/cmd\n"
        "topic read caredge/v1/gw/gw1/confirm\n"
        "\n# nurse\nuser nurse-3\n"
        "topic read caredge/v1/nurse/3/alerts\n"
    )
    # Every rule sits under a user line: a rule before the first "user" would bind anonymous.
    first_rule = acl.index("topic ")
    assert acl.index("user ") < first_rule


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: gateway_account("gw/1", HASH), "invalid gateway_id"),
        (lambda: gateway_account("gw1", "-"), "no valid \\$7\\$ password hash"),
        (lambda: ingest_account("has space", HASH), "without whitespace"),
        (lambda: notifier_account("a:b", HASH), "without whitespace, ':'"),
        (lambda: AclRule("admin", "x"), "unknown ACL access"),  # type: ignore[arg-type]
        (lambda: AclRule("read", "a b"), "whitespace"),
    ],
)
def test_bad_accounts_are_refused(make: object, match: str) -> None:
    with pytest.raises((AccountError, TopicError), match=match):
        make()  # type: ignore[operator]


def test_a_username_claimed_twice_is_refused() -> None:
    clash = [gateway_account("caredge-ingest", HASH), ingest_account("caredge-ingest", HASH)]
    with pytest.raises(AccountError, match="claimed by a gateway and a service"):
        render_acl(clash)


def test_nurse_passwords_are_stable_distinct_and_need_a_long_key() -> None:
    assert nurse_password(KEY, 1) == nurse_password(KEY, 1)
    assert nurse_password(KEY, 1) != nurse_password(KEY, 2)
    assert nurse_password(KEY, 1) != nurse_password(KEY + "x", 1)
    assert len(nurse_password(KEY, 1)) == 43
    with pytest.raises(ValueError, match="at least 32"):
        nurse_password("short", 1)


def test_write_atomically_replaces_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "auth" / "acl"
    write_atomically(target, "old\n")
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["acl"]  # no temporary left behind


def test_signal_reload_of_a_missing_process_is_a_clear_error() -> None:
    with pytest.raises(ProvisionError, match="no process"):
        signal_reload(2**22 + 12345)  # above Linux's pid_max default


def test_provision_from_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caredge.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    ward = seed_ward(sessions, now=T0, gateway_id="gw1", mqtt_enabled=True)
    with transaction(sessions) as session:
        session.add(Gateway(id="gw2", name="gw2", mqtt_password_hash="-"))
        password = rotate_gateway_password(session, gateway_id="gw1", actor="test")
    settings = MqttAdminSettings(
        password_file=tmp_path / "auth" / "passwords",
        acl_file=tmp_path / "auth" / "acl",
        ingest_password="ingest-secret-0123456789",
        nurse_key=KEY,
    )
    with sessions() as session:
        made = provision(session, settings)
    assert (made.count("gateway"), made.count("nurse"), made.count("service")) == (1, 2, 1)
    assert made.skipped == [
        "gateway gw2: no MQTT password set (rotate one)",
        "notifier service: CAREDGE_MQTT_NOTIFIER_PASSWORD is not set",
    ]
    lines = dict(line.split(":", 1) for line in settings.password_file.read_text().splitlines())
    assert set(lines) == {
        "gw1",
        f"nurse-{ward.primary_nurse_id}",
        f"nurse-{ward.backup_nurse_id}",
        "caredge-ingest",
    }
    assert verify_mosquitto_hash(password, lines["gw1"])
    nurse = ward.primary_nurse_id
    assert verify_mosquitto_hash(nurse_password(KEY, nurse), lines[f"nurse-{nurse}"])
    assert verify_mosquitto_hash("ingest-secret-0123456789", lines["caredge-ingest"])
    assert "ingest-secret" not in settings.acl_file.read_text()
    assert f"user nurse-{nurse}\ntopic read caredge/v1/nurse/{nurse}/alerts\n" in (
        settings.acl_file.read_text()
    )


def test_rotation_needs_a_known_gateway_and_a_long_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caredge.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with transaction(sessions) as session:
        session.add(Gateway(id="gw1", name="gw1", mqtt_password_hash="-"))
    with sessions() as session:
        with pytest.raises(Exception, match="gateway 'gw9' not found"):
            rotate_gateway_password(session, gateway_id="gw9", actor="t")
        with pytest.raises(ValueError, match="at least 16"):
            rotate_gateway_password(session, gateway_id="gw1", actor="t", password="short")
        given = "a-chosen-password-0123"
        assert rotate_gateway_password(session, gateway_id="gw1", actor="t", password=given) == (
            given
        )
        assert verify_mosquitto_hash(given, session.get(Gateway, "gw1").mqtt_password_hash)  # type: ignore[union-attr]


def test_account_is_a_frozen_value() -> None:
    account = MqttAccount("svc", HASH, (), "service")
    with pytest.raises(AttributeError):
        account.username = "other"  # type: ignore[misc]
