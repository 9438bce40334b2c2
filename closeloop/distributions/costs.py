"""Totals of SMS prices as Twilio reports them ("-0.00790 USD": negative means charged).
Pure: no Django."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def total_cost(prices: list[str]) -> dict[str, Decimal]:
    """Currency → total charged (positive). Unpriced or unreadable prices are left out."""
    totals: dict[str, Decimal] = {}
    for price in prices:
        amount, _space, currency = (price or "").strip().partition(" ")
        try:
            value = abs(Decimal(amount))
        except InvalidOperation:
            continue
        currency = currency.strip().upper() or "?"
        totals[currency] = totals.get(currency, Decimal(0)) + value
    return totals


def describe_cost(totals: dict[str, Decimal]) -> str:
    """ "0.0158 USD" (several currencies joined with " + "); "" when nothing was priced."""
    return " + ".join(
        f"{value.normalize():f} {currency}" for currency, value in sorted(totals.items())
    )
