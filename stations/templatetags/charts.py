"""The data charts.js draws, from what a page already has; embedded with Django's json_script.

The tables beside the charts stay the figures of record: a chart is a picture of the same numbers.
"""

from datetime import timedelta

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

from billing.money import quantize_money

register = template.Library()


@register.filter
def daily_chart(report) -> dict:
    """Energy (kWh) and fees per day of a stations.reports.Report, every day of its range (0 without
    activity), summed over its rows: the site's totals on /reports/, one charger's on its page."""
    days = [
        report.first_day + timedelta(days=n) for n in range((report.last_day - report.first_day).days + 1)
    ]
    totals = {day: total for day, _rows, total in report.days()}
    currencies = sorted({currency for total in totals.values() for currency in total.fees})
    series = [_series(_("Energy (kWh)"), "kWh", "bars", [_energy_kwh(totals.get(day)) for day in days])]
    for currency in currencies:
        values = [_fee(totals.get(day), currency) for day in days]
        series.append(_series(_("Fees (%(currency)s)") % {"currency": currency}, currency, "line", values))
    return {
        "kind": "daily",
        "zone": settings.TIME_ZONE,
        "x_title": _("Day"),
        "x": [day.isoformat() for day in days],
        "series": series,
    }


def _series(label: str, unit: str, style: str, values: list) -> dict:
    return {"label": label, "unit": unit, "style": style, "values": values}


def _energy_kwh(total) -> float:
    return float(total.energy_kwh) if total else 0.0


def _fee(total, currency: str) -> float:
    amount = total.fees.get(currency) if total else None
    return float(quantize_money(amount, currency)) if amount is not None else 0.0
