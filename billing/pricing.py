"""What a finished session costs under a tariff: pure functions, no database writes.

Energy comes from the meter's register readings (Wh) over time; each stretch
between two readings is spread over the time-of-use windows it crosses in
proportion to the time spent in each (the meter says nothing finer).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from billing.models import Tariff, TariffAssignment
from billing.money import quantize_money
from stations.models import Connector

ZERO = Decimal("0")
WH_PER_KWH = Decimal(1000)
SECONDS_PER_HOUR = Decimal(3600)
BASE = None  # the tariff's own rates, outside every time-of-use window


@dataclass(frozen=True)
class Reading:
    at: datetime
    wh: Decimal  # the energy register, in Wh


@dataclass
class Price:
    currency: str
    energy_wh: Decimal
    charging_seconds: int
    idle_seconds: int
    lines: list[dict] = field(default_factory=list)
    net: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def unpriced(charger_ids) -> set[int]:
    """The chargers among `charger_ids` where a session would be priced at zero (staff must be told).

    That is where billing.services.tariff_for finds nothing: no default tariff, and neither the
    charger nor the connector has one of its own. A charger with tariffs for some connectors only
    counts when one of its known connectors has none. Three queries however many chargers (one when
    a default tariff exists): never a query per charger.
    """
    if Tariff.objects.filter(is_default=True).exists():
        return set()
    ids = set(charger_ids)
    covered = _connectors_by_charger(TariffAssignment.objects.filter(charger_id__in=ids))  # None: all
    partly = [pk for pk, connectors in covered.items() if None not in connectors]
    known = _connectors_by_charger(Connector.objects.filter(charger_id__in=partly, connector_id__gt=0))
    return {pk for pk in ids if not covered[pk] or (None not in covered[pk] and known[pk] - covered[pk])}


def _connectors_by_charger(queryset) -> defaultdict:
    grouped = defaultdict(set)
    for charger_id, connector_id in queryset.values_list("charger_id", "connector_id"):
        grouped[charger_id].add(connector_id)
    return grouped


def is_unpriced(charger) -> bool:
    """One charger's answer to `unpriced`, for its own page."""
    return charger.pk in unpriced([charger.pk])


def price_session(*, tariff, periods, started_at, stopped_at, readings: list[Reading]) -> Price:
    """The price of one session; `readings` run from the start to the stop reading."""
    zone, currency = site_zone(), tariff.currency
    charging_end = end_of_charging(readings, started_at, stopped_at)
    price = Price(
        currency,
        readings[-1].wh - readings[0].wh,
        _seconds(started_at, charging_end),
        _seconds(charging_end, stopped_at),
    )
    energy = energy_by_window(readings, periods, zone)
    hours = hours_by_window(started_at, charging_end, periods, zone)
    for window in sorted(set(energy) | set(hours), key=_window_order):
        _add_window_lines(price, tariff, window, energy.get(window, ZERO), hours.get(window, ZERO))
    _add_fee_lines(price, tariff)
    price.net = sum((line["amount"] for line in price.lines), ZERO)
    price.tax = quantize_money(price.net * tariff.tax_percent / 100, currency)
    price.total = price.net + price.tax
    return price


def _add_window_lines(price: Price, tariff, window, wh: Decimal, hours: Decimal) -> None:
    name = f" ({window.name})" if window is not BASE else ""
    per_kwh = window.price_per_kwh if window is not BASE else tariff.price_per_kwh
    per_hour = (
        tariff.price_per_hour if window is BASE or window.price_per_hour is None else window.price_per_hour
    )
    if wh and per_kwh:
        _line(price, f"Energy{name}", wh / WH_PER_KWH, "kWh", per_kwh)
    if hours and per_hour:
        _line(price, f"Charging time{name}", hours, "h", per_hour)


def _add_fee_lines(price: Price, tariff) -> None:
    if tariff.session_fee:
        _line(price, "Session fee", Decimal(1), "session", tariff.session_fee)
    billable_idle = max(0, price.idle_seconds - tariff.idle_grace_minutes * 60)
    if billable_idle and tariff.idle_fee_per_hour:
        _line(price, "Idle fee", Decimal(billable_idle) / SECONDS_PER_HOUR, "h", tariff.idle_fee_per_hour)


def _line(price: Price, label: str, quantity: Decimal, unit: str, unit_price: Decimal) -> None:
    amount = quantize_money(quantity * unit_price, price.currency)
    price.lines.append(
        {
            "label": label,
            "quantity": quantity.quantize(Decimal("0.001")),
            "unit": unit,
            "unit_price": unit_price,
            "amount": amount,
        }
    )


def end_of_charging(readings: list[Reading], started_at, stopped_at) -> datetime:
    """When energy last flowed: the idle fee runs after it, the hourly price before it.

    Without readings in between only the start and stop are known, and the
    whole session counts as charging.
    """
    if len(readings) <= 2:
        return stopped_at
    last_rise = started_at
    for before, after in zip(readings, readings[1:]):
        if after.wh > before.wh:
            last_rise = after.at
    return min(last_rise, stopped_at)


def energy_by_window(readings: list[Reading], periods, zone) -> dict:
    energy = defaultdict(lambda: ZERO)
    for before, after in zip(readings, readings[1:]):
        delta = after.wh - before.wh
        if delta <= 0:
            continue
        span = (after.at - before.at).total_seconds()
        if span <= 0:  # two readings at one instant: the energy belongs to that instant's window
            energy[window_at(before.at, periods, zone)] += delta
            continue
        for start, end, window in split_by_window(before.at, after.at, periods, zone):
            energy[window] += delta * Decimal((end - start).total_seconds()) / Decimal(span)
    return dict(energy)


def hours_by_window(start, end, periods, zone) -> dict:
    hours = defaultdict(lambda: ZERO)
    for piece_start, piece_end, window in split_by_window(start, end, periods, zone):
        hours[window] += Decimal((piece_end - piece_start).total_seconds()) / SECONDS_PER_HOUR
    return dict(hours)


def split_by_window(start: datetime, end: datetime, periods, zone) -> list[tuple]:
    """[start, end) cut at every window edge and midnight, each piece with its window."""
    cuts = sorted(
        {start, end, *(edge for edge in window_edges(start, end, periods, zone) if start < edge < end)}
    )
    return [(a, b, window_at(a + (b - a) / 2, periods, zone)) for a, b in zip(cuts, cuts[1:])]


def window_edges(start: datetime, end: datetime, periods, zone):
    """Every local midnight and window start/end between two days before and after."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        yield datetime.combine(day, datetime.min.time(), tzinfo=zone)
        for period in periods:
            yield datetime.combine(day, period.start_time, tzinfo=zone)
            yield datetime.combine(day, period.end_time, tzinfo=zone)
        day += timedelta(days=1)


def window_at(moment: datetime, periods, zone):
    local = moment.astimezone(zone)
    return next((period for period in periods if period.covers(local)), BASE)


def _window_order(window):
    return (0, "", 0) if window is BASE else (1, window.start_time.isoformat(), window.pk or 0)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
