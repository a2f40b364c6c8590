"""Bills: itemised lines, insurance-covered and self-pay amounts, pay links."""
