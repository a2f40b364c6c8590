"""Integers beyond 64 bits in a path or query are the client's error (422), not a 500.

Found by schemathesis (tests/property/test_api_schemathesis.py): SQLite cannot bind such an
integer and raised OverflowError from deep in the query.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.testing import ApiHarness, make_harness
from cloud.auth.models import Role

TOO_LARGE = 20060911931383599104  # > 2**63 - 1


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = make_harness(f"sqlite:///{tmp_path / 'api.db'}")
    yield harness
    harness.close()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"/api/v1/bills/{TOO_LARGE}", None),
        ("GET", f"/api/v1/console/patients/{TOO_LARGE}", None),
        ("GET", f"/api/v1/nurses?ward_id=-{TOO_LARGE}", None),
        ("GET", f"/api/v1/clinicians?department_id={TOO_LARGE}", None),
        ("POST", f"/api/v1/alerts/{TOO_LARGE}/acknowledge", {}),
    ],
)
def test_integer_beyond_64_bits_is_422(
    api: ApiHarness, method: str, url: str, body: object
) -> None:
    headers = api.headers(Role.ADMIN)
    response = api.client.request(method, url, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert "out of range" in response.json()["detail"]
    # The failed request's transaction was rolled back: the API still answers.
    assert api.client.get("/api/v1/nurses", headers=headers).status_code == 200
