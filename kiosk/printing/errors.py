"""The one exception of kiosk printing."""

from __future__ import annotations


class PrintError(Exception):
    """A document was not printed; the message is the reason, fit to show staff and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
