"""The kiosk's HTTP client for the cloud kiosk API (docs/kiosk-api.md).

Two bearers: the kiosk device token (identification, feedback, print results) and the
short-lived patient session token (that patient's appointments, bills, reports). Failures
become the small exception family below, so screens never see httpx.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import httpx

log = logging.getLogger(__name__)

Json = dict[str, Any]


class KioskApiError(Exception):
    """Something the API refused; ``code`` is the API's stable code when it sent one."""

    def __init__(self, status: int, detail: str, code: str = "", body: Json | None = None) -> None:
        super().__init__(f"{status} {code} {detail}".strip())
        self.status = status
        self.detail = detail
        self.code = code
        self.body = body or {}


class ApiUnreachable(KioskApiError):
    """No answer from the API (down, network, timeout)."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, reason, "unreachable")


class SessionEnded(KioskApiError):
    """401 on a patient endpoint: the session is over (expired, ended, replaced)."""


class DeviceRejected(KioskApiError):
    """401 on a device endpoint: the kiosk token is wrong or revoked."""


class IdentifyFailed(KioskApiError):
    """Identification refused: qr_invalid, qr_expired, no_match or locked."""

    def __init__(self, status: int, detail: str, code: str, retry_after_s: int | None) -> None:
        super().__init__(status, detail, code)
        self.retry_after_s = retry_after_s


class KioskApi:
    """Calls of one kiosk; holds the device token and, while a patient is served, a session."""

    def __init__(
        self,
        base_url: str,
        device_token: str,
        *,
        timeout: float = 8.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout)
        self._device = device_token
        self.session_token: str | None = None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # --- plumbing -------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, patient: bool, **kwargs: Any) -> httpx.Response:
        token = self.session_token if patient else self._device
        if patient and not token:
            raise SessionEnded(401, "no patient session", "no_session")
        try:
            response = self._client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except httpx.HTTPError as error:
            log.warning("API unreachable: %s %s: %s", method, path, error)
            raise ApiUnreachable(str(error) or type(error).__name__) from error
        if response.status_code < 400:
            return response
        body = _json_or_empty(response)
        detail = str(body.get("detail", response.reason_phrase))
        code = str(body.get("code", ""))
        if response.status_code == 401 and patient:
            self.session_token = None
            raise SessionEnded(401, detail, code)
        if response.status_code == 401 and not code:
            raise DeviceRejected(401, detail)
        if response.status_code >= 500:
            raise ApiUnreachable(f"server error {response.status_code}")
        raise KioskApiError(response.status_code, detail, code, body)

    # --- device token ---------------------------------------------------------------------

    def me(self) -> Json:
        """The kiosk itself: a connectivity and token check."""
        return dict(self._request("GET", "/api/v1/kiosk/me", patient=False).json())

    def identify_qr(self, code: str) -> Json:
        """Open a patient session from scanned text; IdentifyFailed when refused."""
        return self._identify("/api/v1/kiosk/identify/qr", {"code": code})

    def identify_number(self, patient_number: str, birth_date: date) -> Json:
        """Open a patient session from patient number and birth date."""
        body = {"patient_number": patient_number, "birth_date": birth_date.isoformat()}
        return self._identify("/api/v1/kiosk/identify/patient-number", body)

    def _identify(self, path: str, body: Json) -> Json:
        try:
            response = self._request("POST", path, patient=False, json=body)
        except KioskApiError as error:
            if error.status in (401, 429, 422) and not isinstance(error, DeviceRejected):
                retry = error.body.get("retry_after_s")
                code = error.code or ("qr_invalid" if "qr" in path else "no_match")
                retry_s = int(retry) if isinstance(retry, int | float) else None
                raise IdentifyFailed(error.status, error.detail, code, retry_s) from error
            raise
        found = dict(response.json())
        self.session_token = found["session_token"]
        return found

    def feedback(self, rating: int, comment: str, language: str) -> Json:
        """Store anonymous feedback."""
        body = {"rating": rating, "comment": comment, "language": language}
        return dict(
            self._request("POST", "/api/v1/kiosk/feedback", patient=False, json=body).json()
        )

    def print_result(self, job_id: int, outcome: str, error: str | None = None) -> Json:
        """Tell the API what the printer said about a job."""
        body: Json = {"outcome": outcome}
        if error:
            body["error"] = error[:500]
        path = f"/api/v1/kiosk/print-jobs/{job_id}/result"
        return dict(self._request("POST", path, patient=False, json=body).json())

    def route(self, origin: str, destination: str) -> Json | None:
        """Walking directions from the wayfinding API, or None when it has no such route."""
        params = {"from": origin, "to": destination}
        try:
            response = self._request(
                "GET", "/api/v1/wayfinding/route", patient=False, params=params
            )
        except KioskApiError as error:
            if error.status in (404, 422):
                return None
            raise
        return dict(response.json())

    def floor_plans(self) -> Json:
        """The wayfinding map's floor plans (outlines, places with labels, kiosks)."""
        return dict(self._request("GET", "/api/v1/wayfinding/map", patient=False).json())

    # --- patient session ------------------------------------------------------------------

    def appointments(self) -> list[Json]:
        """The patient's appointments today."""
        return list(self._request("GET", "/api/v1/kiosk/appointments", patient=True).json())

    def check_in(self, appointment_id: int) -> Json:
        """Check in (idempotent: a retry returns the same ticket)."""
        path = f"/api/v1/kiosk/appointments/{appointment_id}/check-in"
        return dict(self._request("POST", path, patient=True).json())

    def bills(self) -> list[Json]:
        """The patient's bills, newest first."""
        return list(self._request("GET", "/api/v1/kiosk/bills", patient=True).json())

    def reports(self) -> list[Json]:
        """The patient's reports with items."""
        return list(self._request("GET", "/api/v1/kiosk/reports", patient=True).json())

    def request_print(self, report_id: int) -> Json:
        """Open a print job for a report."""
        path = f"/api/v1/kiosk/reports/{report_id}/print-jobs"
        return dict(self._request("POST", path, patient=True).json())

    def end_session(self) -> None:
        """End the patient session on the server (best effort) and forget its token."""
        if self.session_token is None:
            return
        try:
            self._request("DELETE", "/api/v1/kiosk/session", patient=True)
        except KioskApiError as error:
            log.info("ending the session on the server failed (%s); it expires by itself", error)
        finally:
            self.session_token = None


def _json_or_empty(response: httpx.Response) -> Json:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
