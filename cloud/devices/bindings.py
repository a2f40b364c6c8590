"""Which patient a device belonged to when: pure rules over binding periods."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Binding:
    """Device ``device_id`` belongs to ``patient_id`` on [valid_from, valid_until)."""

    device_id: str
    patient_id: int
    valid_from: datetime
    valid_until: datetime | None


def owner_at(bindings: Iterable[Binding], at: datetime) -> int | None:
    """The patient a device belonged to at instant ``at`` (None when unbound)."""
    for binding in bindings:
        if binding.valid_from <= at and (binding.valid_until is None or at < binding.valid_until):
            return binding.patient_id
    return None
