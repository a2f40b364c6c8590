"""Errors of the delivery channels."""

from __future__ import annotations

from cloud.errors import CloudError


class DeliveryError(CloudError):
    """A channel could not deliver one message; the message says why (kept as last_error)."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
