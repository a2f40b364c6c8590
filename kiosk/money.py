"""Amounts as the kiosk shows them: integer fen to yuan text (no I/O)."""

from __future__ import annotations

SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€"}


def format_cents(cents: int, currency: str = "CNY") -> str:
    """12345 fen → "¥123.45"; unknown currencies keep their code ("HKD 1.00")."""
    sign = "-" if cents < 0 else ""
    whole, fen = divmod(abs(cents), 100)
    amount = f"{whole:,}.{fen:02d}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{currency} {sign}{amount}"
