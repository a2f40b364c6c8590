"""The cloud's exception hierarchy; routers translate these into HTTP errors."""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the cloud raises on purpose."""


class NotFoundError(CloudError):
    """A requested object does not exist."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class ConflictError(CloudError):
    """The request conflicts with existing state (duplicate id, overlapping binding …)."""


class StoreUnavailableError(CloudError):
    """A storage backend could not take or give data now; the caller retries later."""
