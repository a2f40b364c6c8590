"""Dead-letter reasons grouped into a few classes, for a metric label of bounded cardinality.

The reasons are the texts of ``cloud.ingest.pipeline`` and ``protocol`` (their unit test feeds
real rejections through here, so a reworded reason that falls into the wrong class fails it).
"""

from __future__ import annotations

REASON_CLASSES = (
    "topic",
    "too_large",
    "not_json",
    "version",
    "kind",
    "invalid",
    "gateway_mismatch",
    "unregistered_device",
    "store_failure",
)

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("not a caredge gateway topic", "topic"),
    ("not a reading topic", "topic"),
    ("unknown gateway channel", "topic"),
    ("invalid ", "topic"),
    ("payload of ", "too_large"),
    ("not JSON", "not_json"),
    ("expected a JSON object", "not_json"),
    ("unsupported payload version", "version"),
    ("unknown reading kind", "kind"),
    ("payload gateway_id", "gateway_mismatch"),
    ("could not be stored", "store_failure"),
)


def reason_class(reason: str) -> str:
    """The class of a dead letter's reason; a field that fails validation is ``invalid``."""
    for prefix, name in _PREFIXES:
        if reason.startswith(prefix):
            return name
    if reason.startswith("device ") and " is not registered to gateway " in reason:
        return "unregistered_device"
    return "invalid"
