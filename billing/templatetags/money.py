from decimal import Decimal

from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount, currency):
    """{{ entry.amount|money:account.currency }} → "12.50 EUR": never a bare number."""
    return format_money(amount, currency)


@register.filter
def kwh(watt_hours):
    """Energy as people read it: 12345 (Wh) → "12.345 kWh"."""
    if watt_hours is None:
        return ""
    return f"{Decimal(watt_hours) / 1000:.3f} kWh"
