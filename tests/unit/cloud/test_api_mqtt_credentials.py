"""Gateway MQTT password hashes in Mosquitto 2.0's ``$7$`` PBKDF2-SHA512 format."""

from __future__ import annotations

import base64
import getpass
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cloud.devices.mqtt_credentials import (
    KEY_BYTES,
    PBKDF2_ITERATIONS,
    SALT_BYTES,
    mosquitto_hash,
    new_password,
    password_file_line,
    verify_mosquitto_hash,
)
from tests.fixtures.ports import free_port, wait_listening

FORMAT = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$")


def test_hash_has_mosquitto_layout() -> None:
    match = FORMAT.match(mosquitto_hash("secret"))
    assert match, "not $7$<iterations>$<salt>$<hash>"
    assert int(match.group(1)) == PBKDF2_ITERATIONS >= 101
    assert len(base64.b64decode(match.group(2), validate=True)) == SALT_BYTES == 12
    assert len(base64.b64decode(match.group(3), validate=True)) == KEY_BYTES == 64


def test_known_vector_from_mosquitto_passwd() -> None:
    # Written by mosquitto_passwd 2.0.11 for password "secret" (101 iterations).
    encoded = (
        "$7$101$1VWG0cL0cATFdz6n$sttH8GFvDIt0dA7eQ8M+1vIJC+FICTgibJsxEO1p0YTKWsrLz22K5sKRFKZez"
        "oIlgmccOQHD9Vxg2Ekr4Mijvw=="
    )
    assert verify_mosquitto_hash("secret", encoded)
    assert not verify_mosquitto_hash("Secret", encoded)
    salt = base64.b64decode("1VWG0cL0cATFdz6n")
    assert mosquitto_hash("secret", iterations=101, salt=salt) == encoded


def test_hashes_are_salted_and_verify() -> None:
    password = new_password()
    first, second = mosquitto_hash(password), mosquitto_hash(password)
    assert first != second
    assert verify_mosquitto_hash(password, first)
    assert verify_mosquitto_hash(password, second)
    assert not verify_mosquitto_hash(password + "x", first)
    assert not verify_mosquitto_hash(password, "$6$abc$def")


def test_password_file_line_refuses_separators() -> None:
    assert password_file_line("gw-1", "$7$1$a$b") == "gw-1:$7$1$a$b"
    with pytest.raises(ValueError):
        password_file_line("gw:1", "$7$1$a$b")


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd not installed")
def test_mosquitto_passwd_output_verifies(tmp_path: Path) -> None:
    password_file = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(password_file), "gw-1", "p@ss word"], check=True
    )
    username, encoded = password_file.read_text().strip().split(":", 1)
    assert username == "gw-1"
    assert verify_mosquitto_hash("p@ss word", encoded)


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("mosquitto"), reason="mosquitto not installed")
def test_mosquitto_accepts_our_hash(tmp_path: Path) -> None:
    """A real broker authenticates with our hash (1000 iterations) and refuses a bad password."""

    password = new_password()
    (tmp_path / "passwd").write_text(password_file_line("gw-1", mosquitto_hash(password)) + "\n")
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path / 'passwd'}\nuser {getpass.getuser()}\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        assert _connect_code(port, "gw-1", password) == 0
        assert _connect_code(port, "gw-1", password + "x") != 0
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def _connect_code(port: int, username: str, password: str) -> int:
    import paho.mqtt.client as mqtt

    result: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, code, _p: result.append(code.value)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not result and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    assert result, "no CONNACK"
    return result[0]
