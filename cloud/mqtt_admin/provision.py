"""``caredge mqtt provision``: write Mosquitto's password and ACL files from the database.

Both files are replaced atomically (temporary file, fsync, rename), so Mosquitto never reads a
half-written file, then Mosquitto is told to reload them with SIGHUP. On reload Mosquitto 2.0
re-checks every connected client against the new files: a client whose password changed or whose
account is gone is disconnected at once (docs/operations.md, "Rotating credentials").
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.devices.models import Gateway
from cloud.devices.mqtt_credentials import mosquitto_hash
from cloud.errors import CloudError
from cloud.mqtt_admin.accounts import (
    AccountError,
    MqttAccount,
    check_unique,
    gateway_account,
    ingest_account,
    is_mosquitto_hash,
    notifier_account,
    nurse_account,
    render_acl,
    render_password_file,
)
from cloud.mqtt_admin.nurse_credentials import nurse_password
from cloud.mqtt_admin.settings import MqttAdminSettings
from cloud.oncall.models import Nurse

log = logging.getLogger(__name__)

#: Mosquitto (its own user in production) must read the files; nobody else needs to.
FILE_MODE = 0o640


class ProvisionError(CloudError):
    """Provisioning could not complete; the message says what to fix."""


@dataclass
class Provisioned:
    """What a provisioning run wrote, and what it left out and why."""

    accounts: list[MqttAccount]
    skipped: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        """How many accounts of kind ('gateway', 'nurse', 'service') were written."""
        return sum(1 for account in self.accounts if account.kind == kind)


def collect_accounts(session: Session, settings: MqttAdminSettings) -> Provisioned:
    """Every account the registry and the settings call for (hashes made here for services)."""
    accounts: list[MqttAccount] = []
    skipped: list[str] = []
    for gateway_id, password_hash in session.execute(
        select(Gateway.id, Gateway.mqtt_password_hash).order_by(Gateway.id)
    ):
        if not is_mosquitto_hash(password_hash):
            skipped.append(f"gateway {gateway_id}: no MQTT password set (rotate one)")
            continue
        accounts.append(gateway_account(gateway_id, password_hash))

    nurse_ids = session.scalars(
        select(Nurse.id)
        .where(Nurse.mqtt_enabled.is_(True), Nurse.active.is_(True))
        .order_by(Nurse.id)
    ).all()
    key = settings.nurse_key.get_secret_value()
    if nurse_ids and not key:
        skipped.append(f"{len(nurse_ids)} nurse device(s): CAREDGE_MQTT_NURSE_KEY is not set")
    elif nurse_ids:
        try:
            accounts += [
                nurse_account(n, mosquitto_hash(nurse_password(key, n))) for n in nurse_ids
            ]
        except ValueError as exc:
            raise ProvisionError(f"CAREDGE_MQTT_NURSE_KEY: {exc}") from exc

    for name, username, secret, make in (
        ("ingest", settings.ingest_username, settings.ingest_password, ingest_account),
        ("notifier", settings.notifier_username, settings.notifier_password, notifier_account),
    ):
        if secret.get_secret_value():
            accounts.append(make(username, mosquitto_hash(secret.get_secret_value())))
        else:
            skipped.append(f"{name} service: CAREDGE_MQTT_{name.upper()}_PASSWORD is not set")
    try:
        return Provisioned(check_unique(accounts), skipped)
    except AccountError as exc:
        raise ProvisionError(str(exc)) from exc


def write_atomically(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """Replace path with text so that a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def signal_reload(pid: int) -> None:
    """Ask the Mosquitto process pid to reload its password and ACL files (SIGHUP)."""
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ProvisionError(f"no process {pid} to reload (is Mosquitto running?)") from None
    except PermissionError:
        raise ProvisionError(f"not allowed to signal process {pid}: run as its user") from None


def provision(
    session: Session, settings: MqttAdminSettings, *, reload_pid: int | None = None
) -> Provisioned:
    """Write the password file and the ACL from the database, then reload Mosquitto if asked."""
    made = collect_accounts(session, settings)
    try:
        write_atomically(settings.password_file, render_password_file(made.accounts))
        write_atomically(settings.acl_file, render_acl(made.accounts))
    except OSError as exc:
        raise ProvisionError(f"cannot write Mosquitto's files: {exc}") from exc
    log.info("provisioned %d MQTT accounts into %s and %s",
             len(made.accounts), settings.password_file, settings.acl_file)  # fmt: skip
    if reload_pid is not None:
        signal_reload(reload_pid)
        log.info("Mosquitto (pid %d) told to reload", reload_pid)
    return made
