"""Masking of names and identifiers for kiosk screens (pure): 张*三, Wang F***, 110***1234."""

from __future__ import annotations

import unicodedata

MASK = "*"


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY"))


def mask_name(name: str) -> str:
    """Hide a person's name but for enough to recognise it.

    Chinese names keep the first and last character (张*三, 欧阳**明); two-character names keep
    only the first (李*), else nothing would be hidden. Latin names keep the first word and the
    initial of the others (Wang F***, Mary S*** J***).
    """
    name = " ".join(name.split())
    if not name:
        return ""
    if any(_is_cjk(char) for char in name):
        compact = name.replace(" ", "")
        if len(compact) == 1:
            return compact
        if len(compact) == 2:
            return compact[0] + MASK
        return compact[0] + MASK * (len(compact) - 2) + compact[-1]
    first, *rest = name.split(" ")
    return " ".join([first, *(word[0] + MASK * 3 for word in rest)])


def mask_identifier(value: str) -> str:
    """Keep the first 3 and last 4 characters of an ID or patient number (110***1234).

    Shorter values keep less: 5–7 characters only the last 2, up to 4 characters nothing.
    """
    value = value.strip()
    if len(value) >= 8:
        return f"{value[:3]}{MASK * 3}{value[-4:]}"
    if len(value) >= 5:
        return f"{MASK * 3}{value[-2:]}"
    return MASK * len(value)
