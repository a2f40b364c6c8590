"""Structured logs: one JSON object per line (``CAREDGE_LOG_FORMAT=json``) or text for humans.

Correlation ids travel in a context variable: the API middleware binds ``request_id`` for the
whole request, code that handles one reading binds ``reading_id`` (``gateway/device/seq``) with
:func:`bind`, and :class:`ContextFilter` copies them onto every record logged meanwhile. Fields
given with ``extra={...}`` are kept too, so a log line can be filtered by any of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: ContextVar[dict[str, str]] = ContextVar("caredge_log_context")
#: Attributes every LogRecord has; anything else on a record came from ``extra`` or the context.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}


@contextlib.contextmanager
def bind(**fields: str) -> Iterator[None]:
    """Add fields (``request_id=…``, ``reading_id=…``) to every record logged in this block."""
    token = _context.set(_context.get({}) | fields)
    try:
        yield
    finally:
        _context.reset(token)


def bound() -> dict[str, str]:
    """The fields bound in the current context."""
    return dict(_context.get({}))


def reading_id(gateway_id: str, device_id: str, seq: int) -> str:
    """The reading's idempotency key as one log field: ``gateway/device/seq``."""
    return f"{gateway_id}/{device_id}/{seq}"


def payload_fields(topic: str, payload: bytes) -> dict[str, str]:
    """Log fields of a message that may not be a valid reading: its topic, and its reading id
    when the payload is a JSON object with ``gateway_id``, ``device_id`` and an integer ``seq``."""
    fields = {"topic": topic}
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return fields
    if isinstance(data, dict):
        gateway, device, seq = data.get("gateway_id"), data.get("device_id"), data.get("seq")
        if isinstance(gateway, str) and isinstance(device, str) and type(seq) is int:
            fields["reading_id"] = reading_id(gateway, device, seq)
    return fields


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (never overriding an explicit ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get({}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", …extra and bound fields, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_handler(log_format: Literal["text", "json"], stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) with the chosen format and the context filter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """Send the root logger to stderr in log_format; for entry points only (replaces handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
