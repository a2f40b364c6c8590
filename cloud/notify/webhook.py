"""The paging webhook: POST the notification as JSON, signed with HMAC-SHA256 (see signing)."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from cloud.notify.errors import DeliveryError
from cloud.notify.messages import encode
from cloud.notify.signing import ID_HEADER, signed_headers
from cloud.oncall.models import Notification
from cloud.oncall.notifications import Channel

log = logging.getLogger(__name__)


class WebhookSender:
    """Delivers to one URL; any 2xx is success, anything else (or no answer) a DeliveryError."""

    channel = Channel.WEBHOOK

    def __init__(self, url: str, *, secret: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, notification: Notification, message: dict[str, Any]) -> None:
        """POST message; the receiver checks the signature and de-duplicates by id."""
        if not self._url:
            raise DeliveryError("webhook", "no webhook URL configured (CAREDGE_WEBHOOK_URL)")
        body = encode(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            ID_HEADER: str(notification.id),
            **signed_headers(body, timestamp=int(time.time()), secret=self._secret),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError("webhook", f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(
                "webhook", f"HTTP {response.status_code} from {self._url}: {response.text[:200]}"
            )
        log.debug("webhook delivered notification %s", notification.id)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
