"""Money: Decimal amounts with a currency, rounded in exactly one place."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

# ISO 4217 minor units of the currencies a site is likely to use; others have 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3, "JOD": 3}
DEFAULT_CURRENCY = getattr(settings, "CSMS_CURRENCY", "EUR")
# The most the front desk or the command line credits in one top-up (a typo guard).
MAX_TOP_UP = Decimal("5000")
# Amount columns keep 4 decimals so that any currency's minor unit fits.
MONEY_FIELD = {"max_digits": 14, "decimal_places": 4}
# Tariff rates keep more precision than money: 0.3249 EUR/kWh is a real price.
RATE_FIELD = {"max_digits": 12, "decimal_places": 4}


def minor_unit(currency: str) -> Decimal:
    """The smallest coin of `currency`: 0.01 for EUR, 1 for JPY."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    """The one rounding rule of the CSMS: to the currency's minor unit, half up."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"{quantize_money(amount, currency):,} {currency}"


def parse_amount(raw, currency: str) -> Decimal:
    """A top-up amount typed by a person; raises ValueError with a message for them."""
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not an amount") from None
    check_top_up_amount(amount, currency)
    return amount


def check_top_up_amount(amount: Decimal, currency: str) -> None:
    if not amount.is_finite() or amount <= 0:
        raise ValueError("The amount must be positive.")
    if amount != amount.quantize(minor_unit(currency)):
        raise ValueError(f"{currency} amounts have at most {MINOR_UNITS.get(currency, 2)} decimal places.")
    if amount > MAX_TOP_UP:
        raise ValueError(f"A single top-up is at most {format_money(MAX_TOP_UP, currency)}.")


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An amount as a count of the currency's smallest coin (what card gateways speak): 12.34 EUR → 1234.

    Refuses an amount finer than the coin rather than rounding it: a gateway must never move a
    sum that differs from the one the ledger records.
    """
    coins = Decimal(amount) / minor_unit(currency)
    if coins != coins.to_integral_value():
        raise ValueError(f"{amount} {currency} is finer than the currency's smallest coin")
    return int(coins)


def from_minor_units(coins: int, currency: str) -> Decimal:
    """The inverse of to_minor_units: 1234 EUR cents → Decimal("12.34")."""
    return quantize_money(Decimal(coins) * minor_unit(currency), currency)
