"""Per-charger daily figures: working and charging hours, sessions, energy and fees by local day.

Days are the site's local days (settings.TIME_ZONE), split at local midnight. Everything is
computed in the database in a fixed number of queries: the interval arithmetic works on epoch
seconds, clipped to a small table of the range's days, so that no row per meter value reaches
Python (the rows that come back are one per charger and day).

- Working time: the union, per charger, of its sessions (start to stop; open sessions up to now).
- The energy register of a session is the curve through (start, meterStart), its
  Energy.Active.Import.Register samples inside it and (stop, meterStop), clamped as billing clamps
  it (never backwards, never beyond meterStop); each rise between two points is spread evenly
  over the time between them. Energy on a day is the part of those rises that falls in the day.
- Charging time: the union, per charger, of the stretches in which the register rose.
- Sessions on a day: sessions that started that day. Fees: SessionCharge.total of the sessions
  that ended that day, per currency.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import SessionCharge
from billing.money import quantize_money
from stations.models import ENERGY_REGISTER, Charger, Transaction

MAX_DAYS = 366
THOUSANDTH = Decimal("0.001")


class BadRange(ValueError):
    """A date range a person typed that cannot be reported on; the message says why."""


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_today() -> date:
    return timezone.now().astimezone(site_zone()).date()


def parse_range(query, default: tuple[date, date]) -> tuple[date, date]:
    """The `from` and `to` days of a query string (both included), or `default` where absent."""
    first = _parse_day(query.get("from"), default[0], "from")
    last = _parse_day(query.get("to"), default[1], "to")
    if first > last:
        raise BadRange(_("The first day (from) is after the last day (to)."))
    if (last - first).days >= MAX_DAYS:
        raise BadRange(_("A report covers at most %(days)d days.") % {"days": MAX_DAYS})
    return first, last


def _parse_day(raw, default: date, name: str) -> date:
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else _reject(raw, name)
    except ValueError:
        return _reject(raw, name)


def _reject(raw, name: str):
    raise BadRange(_("%(name)s: %(value)r is not a day written YYYY-MM-DD.") % {"name": name, "value": raw})


def this_month() -> tuple[date, date]:
    today = local_today()
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return first, next_month - timedelta(days=1)


def last_30_days() -> tuple[date, date]:
    today = local_today()
    return today - timedelta(days=29), today


@dataclass
class DayFigures:
    day: date
    charger_id: int | None = None
    charge_point_id: str = ""
    sessions: int = 0
    working_seconds: float = 0.0
    charging_seconds: float = 0.0
    energy_wh: float = 0.0
    fees: dict[str, Decimal] = field(default_factory=dict)

    @property
    def working_hours(self) -> Decimal:
        return _thousandths(self.working_seconds / 3600)

    @property
    def charging_hours(self) -> Decimal:
        return _thousandths(self.charging_seconds / 3600)

    @property
    def energy_kwh(self) -> Decimal:
        return _thousandths(self.energy_wh / 1000)

    @property
    def fee_lines(self) -> list[tuple[Decimal, str]]:
        """(amount, currency) pairs rounded as billing rounds them, one per currency."""
        return [
            (quantize_money(amount, currency), currency) for currency, amount in sorted(self.fees.items())
        ]

    def add(self, other: "DayFigures") -> None:
        self.sessions += other.sessions
        self.working_seconds += other.working_seconds
        self.charging_seconds += other.charging_seconds
        self.energy_wh += other.energy_wh
        for currency, amount in other.fees.items():
            self.fees[currency] = self.fees.get(currency, Decimal(0)) + amount


def _thousandths(value: float) -> Decimal:
    # Through str(round(...)) so that float noise (1.4999999999) does not decide the last digit.
    return Decimal(str(round(value, 9))).quantize(THOUSANDTH, rounding=ROUND_HALF_UP)


@dataclass
class Report:
    first_day: date
    last_day: date
    rows: list[DayFigures]  # one per charger and day with any activity, by day then charger
    chargers: dict[int, Charger]

    def days(self) -> list[tuple[date, list[DayFigures], DayFigures]]:
        """Each day with activity: its chargers' rows and the site's total of that day."""
        by_day = defaultdict(list)
        for row in self.rows:
            by_day[row.day].append(row)
        return [(day, rows, _total(day, rows)) for day, rows in sorted(by_day.items())]

    def total(self) -> DayFigures:
        return _total(None, self.rows)


def _total(day, rows) -> DayFigures:
    total = DayFigures(day)
    for row in rows:
        total.add(row)
    return total


def daily_report(first_day: date, last_day: date, charger: Charger | None = None, now=None) -> Report:
    """The figures of every charger (or of `charger`) for each local day from first_day to last_day."""
    days = _local_days(first_day, last_day)
    window = _Window(days, charger.pk if charger else None, now or timezone.now())
    figures = {}
    for key, attribute, value in _database_figures(window):
        row = figures.setdefault(key, DayFigures(day=days[key[1]][0], charger_id=key[0]))
        _accumulate(row, attribute, value)
    rows = sorted(figures.values(), key=lambda row: (row.day, row.charger_id))
    chargers = Charger.objects.in_bulk({row.charger_id for row in rows})
    for row in rows:
        row.charge_point_id = chargers[row.charger_id].charge_point_id
    return Report(first_day, last_day, rows, chargers)


def _accumulate(row: DayFigures, attribute: str, value) -> None:
    if attribute == "fees":
        currency, amount = value
        row.fees[currency] = row.fees.get(currency, Decimal(0)) + amount
    else:
        setattr(row, attribute, getattr(row, attribute) + value)


def _local_days(first_day: date, last_day: date) -> list[tuple[date, datetime, datetime]]:
    """(day, its local midnight, the next local midnight) for each day, as aware datetimes."""
    zone = site_zone()
    count = (last_day - first_day).days + 1
    days = [first_day + timedelta(days=offset) for offset in range(count)]
    return [(day, _midnight(day, zone), _midnight(day + timedelta(days=1), zone)) for day in days]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


@dataclass
class _Window:
    days: list[tuple[date, datetime, datetime]]
    charger_id: int | None
    now: datetime

    @property
    def start(self) -> datetime:
        return self.days[0][1]

    @property
    def end(self) -> datetime:
        return self.days[-1][2]


def _database_figures(window: _Window):
    """(charger id, day index) keys with the figure they add to, from five grouped queries."""
    with connection.cursor() as cursor:
        for attribute, sql in _interval_queries().items():
            cursor.execute(*_with_common_tables(sql, window))
            for charger_id, day_index, value in cursor.fetchall():
                yield (charger_id, day_index), attribute, float(value)
    day_index = {day: index for index, (day, _start, _end) in enumerate(window.days)}
    for charger_id, day, count in _sessions_started(window):
        yield (charger_id, day_index[day]), "sessions", count
    for charger_id, day, currency, amount in _fees(window):
        yield (charger_id, day_index[day]), "fees", (currency, amount)


def _sessions_started(window: _Window):
    sessions = Transaction.objects.filter(started_at__gte=window.start, started_at__lt=window.end)
    if window.charger_id:
        sessions = sessions.filter(charger_id=window.charger_id)
    grouped = sessions.annotate(day=TruncDate("started_at", tzinfo=site_zone())).order_by()
    return grouped.values_list("charger_id", "day").annotate(count=Count("id"))


def _fees(window: _Window):
    charges = SessionCharge.objects.filter(
        transaction__stopped_at__gte=window.start, transaction__stopped_at__lt=window.end
    )
    if window.charger_id:
        charges = charges.filter(transaction__charger_id=window.charger_id)
    grouped = charges.annotate(day=TruncDate("transaction__stopped_at", tzinfo=site_zone())).order_by()
    return grouped.values_list("transaction__charger_id", "day", "currency").annotate(amount=Sum("total"))


# SQL -----------------------------------------------------------------------
# Times become epoch seconds (floats) once, so that the rest is portable arithmetic.

VENDOR = {
    "sqlite": {"epoch": "((julianday({}) - 2440587.5) * 86400.0)", "greatest": "max", "least": "min"},
    "postgresql": {
        "epoch": "CAST(EXTRACT(EPOCH FROM {}) AS double precision)",
        "greatest": "GREATEST",
        "least": "LEAST",
    },
}

COMMON_TABLES = """
WITH days(day_index, lo, hi) AS (VALUES {days}),
sessions AS (
    SELECT t.id, t.charger_id, t.started_at, t.stopped_at, t.meter_start,
           {started} AS s, COALESCE({stopped}, %s) AS e,
           CASE WHEN t.meter_stop IS NULL THEN NULL
                WHEN t.meter_stop > t.meter_start THEN t.meter_stop ELSE t.meter_start END AS high
    FROM stations_transaction t
    WHERE t.started_at < %s AND (t.stopped_at IS NULL OR t.stopped_at > %s) {charger_filter}
),
points AS (
    SELECT id AS tx, charger_id, s AS moment, 0 AS ord, 0 AS seq, meter_start AS wh, high FROM sessions
    UNION ALL
    SELECT x.id, x.charger_id, {sampled}, 1, m.id,
           m.numeric_value * CASE WHEN LOWER(m.unit) = 'kwh' THEN 1000 ELSE 1 END, x.high
    FROM stations_metervalue m JOIN sessions x ON m.transaction_id = x.id
    WHERE m.measurand = %s AND m.phase = '' AND m.numeric_value IS NOT NULL
      AND m.timestamp > x.started_at AND (x.stopped_at IS NULL OR m.timestamp < x.stopped_at)
    UNION ALL
    SELECT id, charger_id, e, 2, 0, high, high FROM sessions WHERE stopped_at IS NOT NULL
),
register AS (
    SELECT tx, charger_id, moment, ord, seq, high,
           MAX(wh) OVER (PARTITION BY tx ORDER BY moment, ord, seq ROWS UNBOUNDED PRECEDING) AS running
    FROM points
),
clamped AS (
    SELECT tx, charger_id, moment, ord, seq,
           CASE WHEN high IS NOT NULL AND running > high THEN high ELSE running END AS wh
    FROM register
),
segments AS (
    SELECT charger_id, LAG(moment) OVER w AS lo, moment AS hi, wh - LAG(wh) OVER w AS delta
    FROM clamped WINDOW w AS (PARTITION BY tx ORDER BY moment, ord, seq)
),
rises AS (SELECT charger_id, lo, hi FROM segments WHERE lo IS NOT NULL AND delta > 0 AND hi > lo),
worked AS (SELECT charger_id, s AS lo, e AS hi FROM sessions WHERE e > s)
"""

# The union of one charger's intervals (gaps and islands), clipped to each day.
UNION_BY_DAY = """,
ordered AS (
    SELECT charger_id, lo, hi, MAX(hi) OVER (
        PARTITION BY charger_id ORDER BY lo, hi ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM {intervals}
),
numbered AS (
    SELECT charger_id, lo, hi, SUM(CASE WHEN reach IS NULL OR lo > reach THEN 1 ELSE 0 END) OVER (
        PARTITION BY charger_id ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) AS island
    FROM ordered
),
islands AS (SELECT charger_id, MIN(lo) AS lo, MAX(hi) AS hi FROM numbered GROUP BY charger_id, island)
SELECT i.charger_id, d.day_index, SUM({least}(i.hi, d.hi) - {greatest}(i.lo, d.lo))
FROM islands i JOIN days d ON i.lo < d.hi AND i.hi > d.lo
GROUP BY i.charger_id, d.day_index
"""

# Each rise spread evenly over its stretch; a rise at one instant belongs to that instant's day.
ENERGY_BY_DAY = """
SELECT g.charger_id, d.day_index, SUM(CASE WHEN g.hi > g.lo
    THEN g.delta * ({least}(g.hi, d.hi) - {greatest}(g.lo, d.lo)) / (g.hi - g.lo) ELSE g.delta END)
FROM segments g JOIN days d
  ON (g.hi > g.lo AND g.lo < d.hi AND g.hi > d.lo) OR (g.hi = g.lo AND g.lo >= d.lo AND g.lo < d.hi)
WHERE g.lo IS NOT NULL AND g.delta > 0
GROUP BY g.charger_id, d.day_index
"""


def _interval_queries() -> dict[str, str]:
    return {
        "working_seconds": UNION_BY_DAY.replace("{intervals}", "worked"),
        "charging_seconds": UNION_BY_DAY.replace("{intervals}", "rises"),
        "energy_wh": ENERGY_BY_DAY,
    }


def _with_common_tables(tail: str, window: _Window) -> tuple[str, list]:
    vendor = VENDOR[connection.vendor]
    epoch = vendor["epoch"].format
    sql = (COMMON_TABLES + tail).format(
        days=", ".join(["(%s, %s, %s)"] * len(window.days)),
        started=epoch("t.started_at"),
        stopped=epoch("t.stopped_at"),
        sampled=epoch("m.timestamp"),
        charger_filter="AND t.charger_id = %s" if window.charger_id else "",
        greatest=vendor["greatest"],
        least=vendor["least"],
    )
    return sql, _parameters(window)


def _parameters(window: _Window) -> list:
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for index, (_day, start, end) in enumerate(window.days):
        params += [index, start.timestamp(), end.timestamp()]
    params += [window.now.timestamp(), adapt(min(window.end, window.now)), adapt(window.start)]
    params += [window.charger_id] if window.charger_id else []
    return params + [ENERGY_REGISTER]
