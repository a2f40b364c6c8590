"""Mosquitto accounts and ACL rules for every caredge identity (pure, no I/O).

Least privilege per identity, on the v1 topics of ``protocol/topics.py``:

- gateway G: write ``caredge/v1/gw/G/{reading,status,beacon}`` (status also carries its last
  will), read ``caredge/v1/gw/G/cmd``;
- nurse device N: read ``caredge/v1/nurse/N/alerts``;
- ingest service: read ``caredge/v1/gw/+/reading`` (it subscribes through ``$share/ingest/``);
- notifier service (``caredge scheduler``): write ``caredge/v1/nurse/+/alerts``.

Mosquitto denies whatever no rule grants (``acl_file``), so these rules are all a client can do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from protocol.topics import (
    CONFIRM_WILDCARD,
    PREFIX,
    READING_WILDCARD,
    GatewayTopic,
    NurseTopic,
    check_id,
)

Access = Literal["read", "write", "readwrite"]
NURSE_USERNAME_PREFIX = "nurse-"
DEFAULT_INGEST_USERNAME = "caredge-ingest"
DEFAULT_NOTIFIER_USERNAME = "caredge-notifier"
_MOSQUITTO_HASH_RE = re.compile(r"^\$7\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
# Mosquitto splits password lines at ':' and ACL lines at whitespace.
_USERNAME_RE = re.compile(r"^[^\s:#]{1,128}$")


class AccountError(ValueError):
    """An account that cannot be written to Mosquitto's password or ACL file."""


def is_mosquitto_hash(value: str) -> bool:
    """True if value looks like a ``$7$`` (PBKDF2-SHA512) Mosquitto password hash."""
    return bool(_MOSQUITTO_HASH_RE.match(value))


@dataclass(frozen=True)
class AclRule:
    """``topic <access> <topic>`` in Mosquitto's ACL file."""

    access: Access
    topic: str

    def __post_init__(self) -> None:
        if self.access not in ("read", "write", "readwrite"):
            raise AccountError(f"unknown ACL access {self.access!r}")
        if not self.topic or any(ch.isspace() for ch in self.topic):
            raise AccountError(f"ACL topic {self.topic!r} is empty or contains whitespace")


@dataclass(frozen=True)
class MqttAccount:
    """One Mosquitto user: its name, its ``$7$`` password hash and what it may do."""

    username: str
    password_hash: str
    rules: tuple[AclRule, ...]
    kind: Literal["gateway", "nurse", "service"]

    def __post_init__(self) -> None:
        if not _USERNAME_RE.match(self.username):
            raise AccountError(
                f"MQTT username {self.username!r} must be 1-128 characters without "
                "whitespace, ':' or '#'"
            )
        if not is_mosquitto_hash(self.password_hash):
            raise AccountError(f"account {self.username!r} has no valid $7$ password hash")


def gateway_account(gateway_id: str, password_hash: str) -> MqttAccount:
    """A gateway publishes only its own reading/status/beacon topics and reads its own cmd and
    delivery confirmations."""
    check_id(gateway_id, "gateway_id")
    writes = tuple(
        AclRule("write", str(GatewayTopic(gateway_id, channel)))
        for channel in ("reading", "status", "beacon")
    )
    reads = tuple(
        AclRule("read", str(GatewayTopic(gateway_id, channel))) for channel in ("cmd", "confirm")
    )
    rules = writes + reads
    return MqttAccount(gateway_id, password_hash, rules, "gateway")


def nurse_username(nurse_id: int) -> str:
    """The MQTT username of nurse nurse_id's device."""
    return f"{NURSE_USERNAME_PREFIX}{nurse_id}"


def nurse_account(nurse_id: int, password_hash: str) -> MqttAccount:
    """A nurse device reads only its own alert topic."""
    topic = str(NurseTopic(str(nurse_id)))
    return MqttAccount(nurse_username(nurse_id), password_hash, (AclRule("read", topic),), "nurse")


def ingest_account(username: str, password_hash: str) -> MqttAccount:
    """The ingest workers' shared account: read every gateway's readings and confirm them to
    the gateway that sent them, nothing else."""
    rules = (AclRule("read", READING_WILDCARD), AclRule("write", CONFIRM_WILDCARD))
    return MqttAccount(username, password_hash, rules, "service")


def notifier_account(username: str, password_hash: str) -> MqttAccount:
    """The scheduler's nurse-device notifier: publish nurse alerts, nothing else."""
    topic = f"{PREFIX}/nurse/+/alerts"
    return MqttAccount(username, password_hash, (AclRule("write", topic),), "service")


def check_unique(accounts: Iterable[MqttAccount]) -> list[MqttAccount]:
    """The accounts as a list; AccountError if two share a username (e.g. a gateway id)."""
    seen: dict[str, MqttAccount] = {}
    for account in accounts:
        if account.username in seen:
            other = seen[account.username]
            raise AccountError(
                f"MQTT username {account.username!r} is claimed by a {other.kind} "
                f"and a {account.kind} account"
            )
        seen[account.username] = account
    return list(seen.values())


def render_password_file(accounts: Iterable[MqttAccount]) -> str:
    """Mosquitto's ``password_file``: one ``username:$7$…`` line per account."""
    lines = [f"{a.username}:{a.password_hash}" for a in check_unique(accounts)]
    return "".join(f"{line}\n" for line in lines)


def render_acl(accounts: Iterable[MqttAccount]) -> str:
    """Mosquitto's ``acl_file``: a ``user`` block per account; no rule outside a block."""
    blocks = ["# Generated by `caredge mqtt provision`; edits are overwritten.\n"]
    for account in check_unique(accounts):
        rules = "".join(f"topic {rule.access} {rule.topic}\n" for rule in account.rules)
        blocks.append(f"\n# {account.kind}\nuser {account.username}\n{rules}")
    return "".join(blocks)
