"""Bill arithmetic and pay links (pure); money in integer fen (1/100 CNY), never floats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit


class LineAmounts(Protocol):
    """What a bill line needs for its amounts."""

    quantity: int
    unit_price_cents: int
    insurance_cents: int


@dataclass(frozen=True)
class Totals:
    """A bill's total, what insurance covers and what the patient pays."""

    total_cents: int
    insurance_cents: int

    @property
    def self_pay_cents(self) -> int:
        """The patient's share."""
        return self.total_cents - self.insurance_cents


def line_amount(line: LineAmounts) -> int:
    """Quantity × unit price."""
    return line.quantity * line.unit_price_cents


def check_line(line: LineAmounts) -> None:
    """Raise ValueError unless quantity ≥ 1, prices ≥ 0 and insurance covers at most the line."""
    if line.quantity < 1:
        raise ValueError("quantity must be at least 1")
    if line.unit_price_cents < 0 or line.insurance_cents < 0:
        raise ValueError("amounts must not be negative")
    if line.insurance_cents > line_amount(line):
        raise ValueError("insurance cannot cover more than the line's amount")


def totals(lines: Iterable[LineAmounts]) -> Totals:
    """Sum the lines."""
    items = list(lines)
    return Totals(
        total_cents=sum(line_amount(line) for line in items),
        insurance_cents=sum(line.insurance_cents for line in items),
    )


def format_amount(cents: int) -> str:
    """Fen as a decimal string: 12345 → '123.45'."""
    sign = "-" if cents < 0 else ""
    whole, fen = divmod(abs(cents), 100)
    return f"{sign}{whole}.{fen:02d}"


def pay_link(base_url: str, *, bill_number: str, amount_cents: int, currency: str) -> str:
    """The provider's pay page for a bill: base_url with bill, amount and currency added.

    The provider looks the bill up by number; the kiosk never handles card data.
    """
    parts = urlsplit(base_url)
    query = urlencode(
        {"bill": bill_number, "amount": format_amount(amount_cents), "currency": currency}
    )
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))
