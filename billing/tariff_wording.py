"""A tariff in plain words for drivers: "0.35 EUR per kWh + 1.00 EUR per session, 19 % tax included in the total".

Rates are shown as stored, never rounded: a rate of 0.3249 EUR/kWh reads
"0.3249 EUR", one of 0.3500 reads "0.35 EUR" (the currency's minor unit is the
fewest decimals shown). Time-of-use windows get a line each, in the site's
time zone as they are defined.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from billing.money import quantize_money

ALL_WEEK = "1234567"


@dataclass(frozen=True)
class TariffWords:
    headline: str  # the tariff's own rates, tax and fees
    windows: list[str] = field(default_factory=list)  # one line per time-of-use window


def describe_tariff(tariff, periods) -> TariffWords:
    """The words for `tariff` with its time-of-use `periods` (a list, so callers decide the query)."""
    return TariffWords(
        headline=_with_tax(_base_prices(tariff), tariff.tax_percent),
        windows=[_window_line(period, tariff.currency) for period in periods],
    )


def rate_text(rate: Decimal, currency: str) -> str:
    """A rate as stored, with at least the currency's minor unit of decimals: "0.35 EUR", "0.3249 EUR"."""
    shown = quantize_money(rate, currency)
    if shown != rate:  # more precise than a coin: show every stored digit that matters
        shown = rate.normalize()
    return f"{shown:f} {currency}"


def _base_prices(tariff) -> list[str]:
    currency = tariff.currency
    parts = []
    if tariff.price_per_kwh:
        parts.append(_("%(price)s per kWh") % {"price": rate_text(tariff.price_per_kwh, currency)})
    if tariff.price_per_hour:
        parts.append(
            _("%(price)s per hour of charging") % {"price": rate_text(tariff.price_per_hour, currency)}
        )
    if tariff.session_fee:
        parts.append(_("%(price)s per session") % {"price": rate_text(tariff.session_fee, currency)})
    if tariff.idle_fee_per_hour:
        parts.append(_idle_fee(tariff))
    return parts


def _idle_fee(tariff) -> str:
    price = rate_text(tariff.idle_fee_per_hour, tariff.currency)
    if tariff.idle_grace_minutes:
        return _("%(price)s per hour left plugged in more than %(minutes)s minutes after charging") % {
            "price": price,
            "minutes": tariff.idle_grace_minutes,
        }
    return _("%(price)s per hour left plugged in after charging") % {"price": price}


def _with_tax(parts: list[str], tax_percent: Decimal) -> str:
    if not parts:
        return _("Free of charge")
    prices = " + ".join(parts)
    if not tax_percent:
        return prices
    return _("%(prices)s, %(percent)s %% tax included in the total") % {
        "prices": prices,
        "percent": f"{tax_percent.normalize():f}",
    }


def _window_line(period, currency: str) -> str:
    prices = [_("%(price)s per kWh") % {"price": rate_text(period.price_per_kwh, currency)}]
    if period.price_per_hour is not None:
        prices.append(
            _("%(price)s per hour of charging") % {"price": rate_text(period.price_per_hour, currency)}
        )
    return _("%(name)s (%(days)s, %(hours)s): %(prices)s") % {
        "name": period.name,
        "days": weekdays_text(period.weekdays),
        "hours": _hours_text(period.start_time, period.end_time),
        "prices": " + ".join(prices),
    }


def weekdays_text(weekdays: str) -> str:
    """ISO weekdays "12345" → "Mon–Fri"; "67" → "Sat–Sun"; "135" → "Mon, Wed, Fri"; all → "every day"."""
    days = sorted(set(weekdays))
    if "".join(days) == ALL_WEEK:
        return _("every day")
    names = [str(WEEKDAYS_ABBR[int(day) - 1]) for day in days]
    consecutive = len(days) > 1 and int(days[-1]) - int(days[0]) == len(days) - 1
    return f"{names[0]}–{names[-1]}" if consecutive else ", ".join(names)


def _hours_text(start, end) -> str:
    if start == end:
        return _("all day")
    # An end of 00:00 is midnight at the end of the day (billing.models.TariffPeriod).
    end_text = "24:00" if end.hour == end.minute == 0 else f"{end:%H:%M}"
    return f"{start:%H:%M}–{end_text}"
