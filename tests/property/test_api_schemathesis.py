"""schemathesis against the API's own OpenAPI schema, authenticated, on a real server: no 5xx.

``caredge api`` runs as a subprocess (uvicorn) on a free port over a SQLite database filled by
``caredge seed --demo`` (departments, patients, appointments, bills, a kiosk) and the demo
accounts, gateways and meters, so generated ids often hit real rows. Each operation is called
with the credential its schema declares: the admin's (or a nurse's) bearer token for the staff
API, the kiosk's device token, or a fresh patient session opened at that kiosk.

``CAREDGE_SCHEMATHESIS_EXAMPLES`` cases per operation and role (default 25: about 40 s on
2 cores, for CI); the full run is::

    CAREDGE_SCHEMATHESIS_EXAMPLES=200 .venv/bin/pytest tests/property/test_api_schemathesis.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from cloud.db import make_engine, make_sessionmaker
from cloud.demo.seed import seed as seed_demo_accounts
from tests.fixtures.ports import free_port
from tests.support import wait_until

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("CAREDGE_SCHEMATHESIS_EXAMPLES", "25"))
CAREDGE = Path(sys.executable).with_name("caredge")
PASSWORDS = {"admin": "admin-schemathesis-1", "nurse": "nurse-schemathesis-1"}


def _request(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@dataclass
class ApiServer:
    """The running API and the credentials of each security scheme, renewed when revoked.

    The fuzzer may revoke its own credentials (rotate the kiosk token, deactivate the kiosk,
    end the patient session); a revoked credential would turn every later case into a 401."""

    url: str
    seed: dict[str, Any]
    log: Path
    kiosk_token: str
    session_token: str = ""
    kiosks_made: int = 0
    staff_tokens: dict[str, str] = field(default_factory=dict)

    def post_json(self, path: str, body: object, token: str) -> Any:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return _request(self.url + path, data=json.dumps(body).encode(), headers=headers)

    def staff_token(self, role: str) -> str:
        if role not in self.staff_tokens:
            form = urllib.parse.urlencode({"username": role, "password": PASSWORDS[role]})
            reply = _request(f"{self.url}/api/v1/auth/token", data=form.encode())
            self.staff_tokens[role] = reply["access_token"]
        return self.staff_tokens[role]

    def live_kiosk_token(self) -> str:
        if not self._accepted("/api/v1/kiosk/me", self.kiosk_token):
            self._new_kiosk()
        return self.kiosk_token

    def patient_session_token(self) -> str:
        """The open patient session, or a new one (at a new kiosk if identify is throttled)."""
        if self.session_token and self._accepted("/api/v1/kiosk/session", self.session_token):
            return self.session_token
        patient = self.seed["patients"][0]
        body = {"patient_number": patient["patient_number"], "birth_date": patient["birth_date"]}
        path = "/api/v1/kiosk/identify/patient-number"
        try:
            made = self.post_json(path, body, self.live_kiosk_token())
        except urllib.error.HTTPError as exc:
            if exc.code != 429:
                raise
            self._new_kiosk()
            made = self.post_json(path, body, self.kiosk_token)
        self.session_token = str(made["session_token"])
        return self.session_token

    def _new_kiosk(self) -> None:
        self.kiosks_made += 1
        body = {"name": f"fuzz-{self.kiosks_made}"}
        made = self.post_json("/api/v1/kiosks", body, self.staff_token("admin"))
        self.kiosk_token = made["device_token"]

    def _accepted(self, path: str, token: str) -> bool:
        try:
            _request(self.url + path, headers=self.bearer(token))
        except urllib.error.HTTPError:
            return False
        return True

    def headers_for(self, case: Case, role: str) -> dict[str, str]:
        """The Authorization header the operation's declared security scheme asks for."""
        schemes = {name for item in case.operation.definition.raw.get("security", [])
                   for name in item}  # fmt: skip
        if "OAuth2PasswordBearer" in schemes:
            return self.bearer(self.staff_token(role))
        if "KioskDeviceToken" in schemes:
            return self.bearer(self.live_kiosk_token())
        if "PatientSessionToken" in schemes:
            return self.bearer(self.patient_session_token())
        return {}

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = {
        **os.environ,
        "CAREDGE_ENV": "development",
        "CAREDGE_VAR_DIR": str(workdir),
        "CAREDGE_DATABASE_URL": f"sqlite:///{workdir / 'api.db'}",
        "CAREDGE_TSDB_URL": "sql",
        "CAREDGE_API_HOST": "127.0.0.1",
        "CAREDGE_API_PORT": str(port),
        "CAREDGE_SECRET_KEY": "schemathesis-" + "k" * 40,
        "CAREDGE_LOG_LEVEL": "INFO",
    }
    seed_file = workdir / "seed.json"
    subprocess.run([str(CAREDGE), "seed", "--demo", "--out", str(seed_file)], env=env,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    engine = make_engine(env["CAREDGE_DATABASE_URL"])
    seed_demo_accounts(make_sessionmaker(engine), admin_password=PASSWORDS["admin"],
                       nurse_password=PASSWORDS["nurse"], bound_from=datetime.now(UTC))  # fmt: skip
    engine.dispose()
    seed = json.loads(seed_file.read_text())
    log = workdir / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(CAREDGE), "api"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"caredge api exited:\n{log.read_text()[-3000:]}")
        try:
            return _request(f"{url}/readyz")["status"] == "ready"
        except OSError:
            return False

    try:
        wait_until(ready, timeout=30, every=0.1)
        yield ApiServer(url, seed, log, kiosk_token=seed["kiosk"]["device_token"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def api_schema(api_server: ApiServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def server_error(case: Case, role: str, api_server: ApiServer) -> str | None:
    """What went wrong if the server answered this case with a 5xx, else None."""
    response = case.call(headers=api_server.headers_for(case, role))
    if response.status_code < 500:
        return None
    return f"{response.status_code} {response.text[:300]}\n    {case.as_curl_command()}"


@pytest.mark.parametrize("role", ["admin", "nurse"])
def test_no_server_error(
    role: str, api_schema: schemathesis.BaseSchema, api_server: ApiServer
) -> None:
    """Valid and invalid requests for every operation: never a 5xx (each failure shrunk)."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @FUZZ
        @given(case=cases)
        def fuzz(case: Case) -> None:
            error = server_error(case, role, api_server)
            assert error is None, error

        try:
            fuzz()
        except AssertionError as exc:
            failures[operation.label] = str(exc)
    assert len(operations) > 80  # the whole API was exercised, not a schema that failed to load
    assert not failures, (
        f"{len(failures)} operations answered 5xx as {role}:\n"
        + "\n".join(f"{label}: {error}" for label, error in failures.items())
        + f"\nserver log tail:\n{api_server.log.read_text(errors='replace')[-4000:]}"
    )


def test_coverage_cases_no_server_error(
    api_schema: schemathesis.BaseSchema, api_server: ApiServer
) -> None:
    """schemathesis' deterministic coverage cases (boundaries, nulls, missing and wrong-typed
    fields) for every operation, as the admin: no 5xx."""
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        cases = api_schema.iter_coverage_cases(
            operation,
            generation_modes=list(GenerationMode),
            generation_config=api_schema.config.generation_for(operation=operation),
        )
        for case in cases:
            error = server_error(case, "admin", api_server)
            if error is not None:
                failures[operation.label] = error
                break
    assert not failures, (
        f"{len(failures)} operations answered 5xx:\n"
        + "\n".join(f"{label}: {error}" for label, error in failures.items())
        + f"\nserver log tail:\n{api_server.log.read_text(errors='replace')[-4000:]}"
    )


@pytest.mark.parametrize("field", ["mqtt_enabled", "active"])
def test_nurse_patch_with_explicit_null_is_refused(field: str, api_server: ApiServer) -> None:
    """Found by schemathesis' CLI (PATCH /api/v1/nurses/1 {"mqtt_enabled": null}): the null
    reached a NOT NULL column → 500. Now refused with 422."""
    token = api_server.staff_token("admin")
    nurses = _request(f"{api_server.url}/api/v1/nurses", headers=api_server.bearer(token))
    if not nurses:  # the fuzzing tests may not have made one yet
        me = _request(
            f"{api_server.url}/api/v1/auth/me",
            headers=api_server.bearer(api_server.staff_token("nurse")),
        )
        nurses = [
            _request(
                f"{api_server.url}/api/v1/nurses",
                data=json.dumps({"user_id": me["id"]}).encode(),
                headers={"Content-Type": "application/json", **api_server.bearer(token)},
            )
        ]
    request = urllib.request.Request(
        f"{api_server.url}/api/v1/nurses/{nurses[0]['id']}",
        data=json.dumps({field: None}).encode(),
        headers={"Content-Type": "application/json", **api_server.bearer(token)},
        method="PATCH",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 422
