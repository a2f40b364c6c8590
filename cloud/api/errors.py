"""Translation of domain errors into JSON HTTP errors ``{"detail": ...}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from cloud.errors import CloudError, ConflictError, NotFoundError, StoreUnavailableError

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503 from a store outage.
RETRY_AFTER_SECONDS = 5


def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)


def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)


def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": f"reading store unavailable, try again shortly ({exc})"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # An id or number beyond 64 bits (SQLite refuses to bind it) can match no row: the
    # request is at fault, not the server.
    log.warning("%s %s: number out of range: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "a number in the request is out of range (integers are limited to 64 bits)"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _cloud_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: unmapped %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback is logged by the server; the client learns nothing internal.
    return JSONResponse(
        {"detail": "internal server error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map NotFoundError→404, ConflictError→409, StoreUnavailableError→503, an integer too
    large for the database (OverflowError)→422, others→500."""
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(StoreUnavailableError, _store_unavailable)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(CloudError, _cloud_error)
    app.add_exception_handler(Exception, _unexpected)
