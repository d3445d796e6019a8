"""The budget watch of paid sessions, on the OCPP message path: pure arithmetic per frame.

A session paid through billing.payments must stop before its cost reaches the amount the driver
paid. Each server process keeps the paid sessions whose chargers it serves in a dict, filled when
a StartTransaction links a payment (that call visits the database anyway) and refreshed by the
payment ticker (billing.tasks) after a restart; a MeterValues frame of any other session costs one
dict lookup. For a paid one, the cost so far plus one more meter interval at the present power is
compared with the amount: past it, the stop is scheduled once, as a task, never awaited here.

The cost is an upper bound: every kWh at the tariff's dearest energy rate, every second at its
dearest rate per hour (charging or idle), the session fee, tax, and a few coins for the rounding
of each price line. So the stop comes early rather than late; the real price is computed once at
the end by billing.pricing, and the driver never pays more than the amount (billing.payments).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stations.models import ENERGY_REGISTER, POWER_IMPORT

WH_PER_KWH, SECONDS_PER_HOUR = Decimal(1000), Decimal(3600)
DEFAULT_INTERVAL_S = Decimal(60)  # before a second frame shows the charger's own interval
PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Rates:
    """The dearest a tariff can be, per unit; `margin` covers the rounding of the final price lines."""

    per_kwh: Decimal
    per_hour: Decimal
    session_fee: Decimal
    tax_percent: Decimal
    margin: Decimal

    @classmethod
    def of_tariff(cls, tariff, periods: list, coin: Decimal) -> "Rates":
        """The dearest of a tariff and its time-of-use `periods`; `coin` is the currency's smallest."""
        if tariff is None:
            return cls(Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0))
        per_hour = [tariff.price_per_hour, tariff.idle_fee_per_hour]
        per_hour += [p.price_per_hour for p in periods if p.price_per_hour is not None]
        return cls(
            per_kwh=max([tariff.price_per_kwh, *(p.price_per_kwh for p in periods)]),
            per_hour=max(per_hour),
            session_fee=tariff.session_fee,
            tax_percent=tariff.tax_percent,
            margin=coin * 4,  # each price line and the tax round by half a coin at most
        )

    def cost_ceiling(self, wh: Decimal, seconds: Decimal) -> Decimal:
        net = self.session_fee + wh / WH_PER_KWH * self.per_kwh + seconds / SECONDS_PER_HOUR * self.per_hour
        return net * (1 + self.tax_percent / 100) + self.margin


@dataclass
class Budget:
    payment_id: int
    amount: Decimal
    rates: Rates
    meter_start_wh: Decimal
    started_at: datetime
    last_wh: Decimal | None = None
    last_at: datetime | None = None
    interval_s: Decimal = DEFAULT_INTERVAL_S
    stop_scheduled: bool = False

    def observe(self, at: datetime, wh: Decimal | None, power_w: Decimal | None) -> bool:
        """Take one frame's readings in; True when the session must stop now."""
        if self.last_at is not None and at > self.last_at:
            self.interval_s = Decimal((at - self.last_at).total_seconds())
        if wh is None:
            wh = self.last_wh if self.last_wh is not None else self.meter_start_wh
        if power_w is None and self.last_wh is not None and self.interval_s:
            power_w = max(wh - self.last_wh, 0) * SECONDS_PER_HOUR / self.interval_s
        self.last_wh, self.last_at = max(wh, self.last_wh or wh), max(at, self.last_at or at)
        next_wh = self.last_wh - self.meter_start_wh + (power_w or 0) * self.interval_s / SECONDS_PER_HOUR
        next_seconds = Decimal((self.last_at - self.started_at).total_seconds()) + self.interval_s
        return self.rates.cost_ceiling(next_wh, next_seconds) >= self.amount


_watched: dict[int, Budget] = {}  # transaction id → its budget, for the paid sessions of this process


def watch(transaction_id: int, budget: Budget) -> None:
    _watched.setdefault(transaction_id, budget)


def forget(transaction_id: int) -> None:
    _watched.pop(transaction_id, None)


def watched() -> dict[int, Budget]:
    return dict(_watched)


def keep_only(budgets: dict[int, Budget]) -> None:
    """The ticker's refresh: exactly these sessions are watched; those already watched keep what they saw."""
    for transaction_id in set(_watched) - set(budgets):
        forget(transaction_id)
    for transaction_id, budget in budgets.items():
        watch(transaction_id, budget)


def observe(transaction_id, samples) -> int | None:
    """A MeterValues frame's samples (stations.MeterValue rows, unsaved); the payment to stop, once."""
    budget = _watched.get(transaction_id) if transaction_id is not None else None
    if budget is None or budget.stop_scheduled or not samples:
        return None
    if not budget.observe(samples[-1].timestamp, _energy_wh(samples), _power_w(samples)):
        return None
    budget.stop_scheduled = True
    return budget.payment_id


def _energy_wh(samples) -> Decimal | None:
    readings = [
        _in_base_unit(sample)
        for sample in samples
        if sample.measurand == ENERGY_REGISTER and not sample.phase and sample.numeric_value is not None
    ]
    return max(readings) if readings else None


def _power_w(samples) -> Decimal | None:
    power = [s for s in samples if s.measurand == POWER_IMPORT and s.numeric_value is not None]
    total = [_in_base_unit(s) for s in power if not s.phase]
    if total:
        return total[-1]
    phases = [_in_base_unit(s) for s in power if s.phase in PHASES]
    return sum(phases) if phases else None


def _in_base_unit(sample) -> Decimal:
    """Wh or W: the kilo units times 1000."""
    return sample.numeric_value * (1000 if sample.unit.lower() in ("kwh", "kw") else 1)
