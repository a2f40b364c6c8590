"""The on-screen numeric keypad: patient number and date of birth, digits only (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Field = Literal["number", "birth"]
MAX_NUMBER_DIGITS = 16
BIRTH_DIGITS = 8  # YYYYMMDD


@dataclass
class Keypad:
    """What was typed into the two fields, and which one the keys go to."""

    number: str = ""
    birth: str = ""
    field: Field = "number"

    def press(self, key: str) -> None:
        """A digit, "back" (delete one) or "clear"; the number moves on to birth when full."""
        current = self.number if self.field == "number" else self.birth
        if key == "back":
            current = current[:-1]
        elif key == "clear":
            current = ""
        elif key.isdigit() and len(key) == 1:
            limit = MAX_NUMBER_DIGITS if self.field == "number" else BIRTH_DIGITS
            if len(current) < limit:
                current += key
        else:
            raise ValueError(f"not a keypad key: {key!r}")
        if self.field == "number":
            self.number = current
        else:
            self.birth = current

    def select(self, field: Field) -> None:
        """Send the next keys to field."""
        self.field = field

    def birth_display(self) -> str:
        """The birth date typed so far as YYYY-MM-DD with placeholders."""
        digits = self.birth.ljust(BIRTH_DIGITS, "_")
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"

    def birth_date(self) -> date | None:
        """The birth date, or None when incomplete or not a real date."""
        if len(self.birth) != BIRTH_DIGITS:
            return None
        try:
            return date(int(self.birth[:4]), int(self.birth[4:6]), int(self.birth[6:]))
        except ValueError:
            return None

    def ready(self) -> bool:
        """True when both fields hold something the API can check."""
        return bool(self.number) and self.birth_date() is not None

    def clear(self) -> None:
        """Forget everything typed."""
        self.number = ""
        self.birth = ""
        self.field = "number"
