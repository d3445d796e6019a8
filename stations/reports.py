"""Per-charger daily figures: working and charging hours, sessions, energy and fees by local day.

Days are the site's local days (settings.TIME_ZONE), split at local midnight. Everything is
computed in the database in five queries whatever the range and the number of chargers (the
interval figures, the stored energy, the sessions started, the fees, the chargers' ids): no row per
meter value reaches Python (the rows that come back are one per charger, day and figure).

A charger's day is worked out once, when it is over and every session in it has closed, by a
minute job (store_charger_days, kept as stations.models.ChargerDay); the report reads those days
and walks the meter samples only of what is not stored yet (today, a day with a session still open,
every day after an upgrade or a change of the site's zone, until the job has caught up). Both give
the same figures: one statement, below, does the walking for both.

- Working time: the union, per charger, of its sessions (start to stop; open sessions up to now).
- The energy register of a session is the curve through (start, meterStart), its
  Energy.Active.Import.Register samples inside it and (stop, meterStop), clamped as billing clamps
  it (never backwards, never beyond meterStop); each rise between two points is spread evenly
  over the time between them. Energy on a day is the part of those rises that falls in the day.
- Charging time: the union, per charger, of the stretches in which the register rose.
- Sessions on a day: sessions that started that day.
- Fees on a day: what the sessions that ended that day were charged, their final price taxes
  included, per currency: SessionCharge.charged + uncollected. That is the session's total for
  every session someone pays (a prepaid wallet, a QR payment), the part their balance or payment
  could not cover included (the site billed it; the session page shows it as not collected), and
  zero for a personal card's session (priced for the record, never charged) or a card nobody pays
  for. A later refund is a ledger entry of the day it is made, not a change to this figure.
"""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import SessionCharge
from billing.money import quantize_money
from stations.models import (
    ENERGY_REGISTER,
    Charger,
    ChargerDay,
    Transaction,
)

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


def parse_day_within(query, first_day: date, last_day: date) -> date | None:
    """The `day` of a query string, which must lie in the range; None where absent."""
    day = _parse_day(query.get("day"), None, "day")
    if day is not None and not first_day <= day <= last_day:
        raise BadRange(_("The day %(day)s is not in the range shown.") % {"day": day.isoformat()})
    return day


def _parse_day(raw, default: date | None, name: str) -> date | None:
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

    def by_charger(self) -> list[DayFigures]:
        """Each charger with activity, its figures over the whole range (`day` is None)."""
        totals = {}
        for row in self.rows:
            total = totals.setdefault(row.charger_id, DayFigures(None, row.charger_id, row.charge_point_id))
            total.add(row)
        return sorted(totals.values(), key=lambda total: total.charge_point_id)

    def rows_of(self, day: date) -> list[DayFigures]:
        return [row for row in self.rows if row.day == day]


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
    charger_ids: list[int] | None = None  # storing these chargers' days (store_charger_days)
    frontiers: dict[int, int] = field(default_factory=dict)  # charger: its first day (index) not stored

    @property
    def start(self) -> datetime:
        return self.days[0][1]

    @property
    def end(self) -> datetime:
        return self.days[-1][2]


def _database_figures(window: _Window):
    """(charger id, day index) keys with the figure they add to: the stored days, the interval figures'
    statement for the rest, then the sessions started and the fees (two grouped queries)."""
    yield from _stored_figures(window)
    for key, attribute, value in _walked_figures(window):
        if key[1] >= window.frontiers.get(key[0], 0):  # a stored day is read, not walked
            yield key, attribute, value
    day_index = {day: index for index, (day, _start, _end) in enumerate(window.days)}
    for charger_id, day, count in _sessions_started(window):
        yield (charger_id, day_index[day]), "sessions", count
    for charger_id, day, currency, amount in _fees(window):
        yield (charger_id, day_index[day]), "fees", (currency, amount)


def _walked_figures(window: _Window):
    with connection.cursor() as cursor:
        cursor.execute(*_figures_query(window))
        for attribute, charger_id, day_index, value in cursor.fetchall():
            yield (charger_id, day_index), attribute, float(value)


STORED_FIGURES = ("working_seconds", "charging_seconds", "energy_wh")


def _stored_figures(window: _Window):
    """The stored days of each charger up to its frontier (the first day not stored), which it sets."""
    stored = ChargerDay.objects.filter(
        zone=settings.TIME_ZONE, day__gte=window.days[0][0], day__lte=window.days[-1][0]
    )
    if window.charger_id:
        stored = stored.filter(charger_id=window.charger_id)
    first_day = window.days[0][0]
    by_key = {
        (charger_id, (day - first_day).days): figures
        for charger_id, day, *figures in stored.values_list("charger_id", "day", *STORED_FIGURES)
    }
    for charger_id, index in sorted(by_key):
        frontier = window.frontiers.setdefault(charger_id, index)
        if index == frontier:  # the days without a gap from the first one in the window
            window.frontiers[charger_id] = index + 1
            yield from _stored_day((charger_id, index), by_key[charger_id, index])


def _stored_day(key, figures):
    if any(figures):  # a charger's day without activity is stored as zeros: no row in the report
        for attribute, value in zip(STORED_FIGURES, figures, strict=True):
            yield key, attribute, value


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
    billed = Sum(F("charged") + F("uncollected"))  # the price of a paid session; 0 for a free one
    return grouped.values_list("transaction__charger_id", "day", "currency").annotate(amount=billed)


# SQL -----------------------------------------------------------------------
# One statement: each session's register is walked once, in time order, and that one walk yields the
# working, charging and energy figures. Times become epoch seconds (floating point) at the start,
# so that the rest is portable arithmetic; SQLite gets the same statement, its own spellings below.

VENDOR = {
    "sqlite": {
        "epoch": "((julianday({}) - 2440587.5) * 86400.0)",
        "float": "REAL",
        "greatest": "max",
        "least": "min",
        # The bounds at or before the moment, counted: SQLite has no width_bucket (speed there is no goal).
        "day_of": "((SELECT COUNT(*) FROM bounds b WHERE b.moment <= {}) - 1)",
        "higher": "max(COALESCE({0}, {1}), COALESCE({1}, {0}))",  # max() is NULL when either is
        "level": "min(COALESCE(high, max(low, COALESCE({0}, low))), max(low, COALESCE({0}, low)))",
        "fence": "",
    },
    "postgresql": {
        "epoch": "date_part('epoch', {})",  # double precision; EXTRACT(EPOCH …) is a slower numeric
        "float": "double precision",
        "greatest": "GREATEST",
        "least": "LEAST",
        "day_of": "(width_bucket({}, CAST(%(bounds)s AS double precision[])) - 1)",  # a binary search
        "higher": "GREATEST({0}, {1})",  # NULLs left out
        "level": "LEAST(high, GREATEST(low, {0}))",
        # Computed once per row: where PostgreSQL flattens a subquery it repeats its expressions at each use.
        "fence": "OFFSET 0",
    },
}

# The sessions that overlap the window, in epoch seconds (open ones up to now); high: meterStop, never below
# meterStart (NULL while open). Written out twice in the statement rather than referenced: a common table
# used twice is stored, and the walk below then could not read the sessions in the order of their key.
SESSIONS_SQL = """
    SELECT t.id AS tx, t.charger_id, t.started_at, t.stopped_at,
           {started} AS s, COALESCE({stopped}, %(now)s) AS e, CAST(t.meter_start AS {float}) AS low,
           CASE WHEN {day_of_start} = {day_of_end} THEN {day_of_start} END AS only_day,
           CAST(CASE WHEN t.meter_stop IS NULL THEN NULL
                     WHEN t.meter_stop > t.meter_start THEN t.meter_stop ELSE t.meter_start END AS {float}) AS high
    FROM stations_transaction t {frontier_join}
    WHERE t.started_at < %(until)s AND (t.stopped_at IS NULL OR t.stopped_at > %(since)s) {session_filter}
"""

# Step by step:
#   joined   each session with its register samples (Wh) in time order; a session without any: one row.
#            (The samples are read from the first session's id on: a merge join starts there.)
#   walk     one ordered pass: the previous sample, the next one, the highest reading up to two samples back
#   levels   the register before and at each sample, and at the next point (the next sample, or meterStop):
#            the highest reading so far (a register never goes back), clamped to [meterStart, meterStop]
#   steps    did the register rise into this sample (rose), into the previous one, out of this one?
#   runs     consecutive rises of a session as one stretch, from where a rise starts to where it ends
#   numbered the union of each charger's sessions (working) and of its runs (charging): gaps and islands
#   whole_days  the energy of a session within one day: its last level less meterStart
#   rises    for a session over several days, each rise with its energy: into a sample, and from the last
#            point to meterStop
#   placed   islands and rises with the first and last day they touch; most lie within one day,
#            the others are clipped to each day (a rise spread evenly over its stretch)
FIGURES_SQL = """
WITH days(day_index, lo, hi) AS (VALUES {days}),
bounds(moment) AS (VALUES {bounds}),{frontiers}
parts(part) AS (VALUES (0), (1)),
sessions AS ({sessions}
),
joined AS (
    SELECT x.tx, x.charger_id, x.s, x.e, x.low, x.high, x.stopped_at, x.only_day,
           m.timestamp AS taken_at, m.id AS seq,
           {sampled} AS moment, {sample_wh} AS wh
    FROM ({sessions}
    ) x LEFT JOIN stations_metervalue m
      ON m.transaction_id = x.tx AND m.measurand = %(measurand)s AND m.phase = '' AND m.numeric_value IS NOT NULL
     AND m.timestamp > x.started_at AND (x.stopped_at IS NULL OR m.timestamp < x.stopped_at)
     AND m.transaction_id >= (SELECT MIN(tx) FROM ({sessions}
     ) first_session)
    ORDER BY x.tx, m.timestamp, m.id {fence}
),
walk AS (
    SELECT joined.*,
           LAG(moment) OVER w AS moment_before,
           LAG(wh) OVER w AS wh_before,
           MAX(wh) OVER w AS top_two_before,
           LEAD(wh) OVER w AS wh_after,
           CASE WHEN LEAD(seq) OVER w IS NULL THEN 1 ELSE 0 END AS is_last
    FROM joined
    WINDOW w AS (PARTITION BY tx ORDER BY taken_at, seq ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING)
),
levels AS (
    SELECT tx, charger_id, s, e, low, high, only_day, taken_at, seq, moment, is_last, COALESCE(moment_before, s) AS lo,
           CASE WHEN moment_before IS NULL THEN 0 ELSE 1 END AS has_segment_before,
           {level_two_before} AS level_two_before, {level_before} AS level_before, {level_at} AS level_at,
           CASE WHEN is_last = 0 THEN {level_after} WHEN stopped_at IS NOT NULL THEN high ELSE {level_at} END
               AS level_after
    FROM walk {fence}
),
steps AS (
    SELECT tx, charger_id, s, e, low, high, only_day, taken_at, seq, moment, is_last, lo,
           level_before, level_at, level_after,
           CASE WHEN moment IS NOT NULL AND level_at > level_before THEN 1 ELSE 0 END AS rose,
           CASE WHEN has_segment_before = 1 AND level_before > level_two_before THEN 1 ELSE 0 END AS rose_before,
           CASE WHEN level_after > level_at THEN 1 ELSE 0 END AS rises_after
    FROM levels
),
marks AS (
    SELECT tx, charger_id, taken_at, seq,
           CASE WHEN rose = 1 AND rose_before = 0 THEN lo
                WHEN rose = 0 AND is_last = 1 AND rises_after = 1 THEN COALESCE(moment, s) END AS run_from,
           CASE WHEN is_last = 1 AND rises_after = 1 THEN e WHEN rose = 1 AND rises_after = 0 THEN moment END AS run_to
    FROM steps WHERE (rose = 1 AND (rose_before = 0 OR rises_after = 0)) OR (is_last = 1 AND rises_after = 1)
),
runs AS (
    SELECT charger_id, MAX(run_from) OVER (PARTITION BY tx ORDER BY taken_at, seq ROWS UNBOUNDED PRECEDING) AS lo,
           run_to AS hi
    FROM marks
),
intervals AS (
    SELECT 'working_seconds' AS figure, charger_id, s AS lo, e AS hi FROM sessions WHERE e > s
    UNION ALL
    SELECT 'charging_seconds', charger_id, lo, hi FROM runs WHERE hi > lo
),
ordered AS (
    SELECT figure, charger_id, lo, hi, MAX(hi) OVER (PARTITION BY figure, charger_id ORDER BY lo, hi
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM intervals
),
numbered AS (
    SELECT figure, charger_id, lo, hi, SUM(CASE WHEN reach IS NULL OR lo > reach THEN 1 ELSE 0 END) OVER (
        PARTITION BY figure, charger_id ORDER BY lo, hi ROWS UNBOUNDED PRECEDING) AS island
    FROM ordered
),
rises AS (
    SELECT p.charger_id,
           CASE WHEN k.part = 0 THEN p.lo ELSE COALESCE(p.moment, p.s) END AS lo,
           CASE WHEN k.part = 0 THEN p.moment ELSE p.e END AS hi,
           CASE WHEN k.part = 0 THEN p.level_at - p.level_before ELSE p.high - p.level_at END AS delta
    FROM steps p CROSS JOIN parts k
    WHERE p.only_day IS NULL AND ((k.part = 0 AND p.rose = 1) OR (k.part = 1 AND p.is_last = 1 AND p.rises_after = 1))
),
pieces AS (
    SELECT figure, charger_id, MIN(lo) AS lo, MAX(hi) AS hi, MAX(hi) - MIN(lo) AS amount
    FROM numbered GROUP BY figure, charger_id, island
    UNION ALL
    SELECT 'energy_wh', charger_id, lo, hi, delta FROM rises
),
whole_days AS (
    SELECT 'energy_wh' AS figure, charger_id, only_day AS day_index, level_after - low AS amount
    FROM steps WHERE only_day IS NOT NULL AND is_last = 1 AND level_after > low
),
placed AS (
    SELECT figure, charger_id, lo, hi, amount, {day_of_lo} AS first_day, {day_of_hi} AS last_day
    FROM pieces
    WHERE lo < %(end)s AND (hi > %(start)s OR (hi = lo AND lo >= %(start)s))
)
"""

# Days already stored (ChargerDay) are read, not walked: a charger's sessions that ended before its first
# day not stored are left out.
FRONTIERS_CTE = """
frontiers(charger_id, since) AS (VALUES {rows}),"""
FRONTIER_JOIN = "LEFT JOIN frontiers fr ON fr.charger_id = t.charger_id"
AFTER_FRONTIER = "AND COALESCE({stopped}, %(now)s) > COALESCE(fr.since, %(start)s)"

REPORT_SQL = """
SELECT figure, charger_id, first_day, SUM(amount) FROM placed WHERE first_day = last_day
GROUP BY figure, charger_id, first_day
UNION ALL
SELECT figure, charger_id, day_index, SUM(amount) FROM whole_days GROUP BY figure, charger_id, day_index
UNION ALL
SELECT p.figure, p.charger_id, d.day_index, SUM(CASE WHEN p.figure = 'energy_wh'
    THEN p.amount * ({least}(p.hi, d.hi) - {greatest}(p.lo, d.lo)) / (p.hi - p.lo)
    ELSE {least}(p.hi, d.hi) - {greatest}(p.lo, d.lo) END)
FROM placed p JOIN days d ON d.lo < p.hi AND d.hi > p.lo
WHERE p.first_day <> p.last_day
GROUP BY p.figure, p.charger_id, d.day_index
"""


def _figures_query(window: _Window) -> tuple[str, dict]:
    vendor = VENDOR[connection.vendor]
    epoch, higher, level = vendor["epoch"].format, vendor["higher"].format, vendor["level"].format
    top_before = higher("top_two_before", "wh_before")  # the highest reading before this sample
    top_at = higher(top_before, "wh")
    bounds = [start for _day, start, _end in window.days] + [window.end]
    frontiers = [(charger_id, bounds[index]) for charger_id, index in window.frontiers.items()]
    rows = ", ".join(f"({int(charger_id)}, {since.timestamp()!r})" for charger_id, since in frontiers)
    sql = (FIGURES_SQL + REPORT_SQL).replace("{sessions}", SESSIONS_SQL)
    sql = sql.format(
        days=", ".join(f"(%(day{i})s, %(lo{i})s, %(hi{i})s)" for i in range(len(window.days))),
        bounds=", ".join(f"(%(bound{i})s)" for i in range(len(window.days) + 1)),
        frontiers=FRONTIERS_CTE.format(rows=rows) if frontiers else "",
        frontier_join=FRONTIER_JOIN if frontiers else "",
        started=epoch("t.started_at"),
        stopped=epoch("t.stopped_at"),
        sampled=epoch("m.timestamp"),
        sample_wh=f"CAST(m.numeric_value AS {vendor['float']}) * CASE WHEN LOWER(m.unit) = 'kwh' THEN 1000 ELSE 1 END",
        float=vendor["float"],
        fence=vendor["fence"],
        level_two_before=level("top_two_before"),
        level_before=level(top_before),
        level_at=level(top_at),
        level_after=level(higher(top_at, "wh_after")),
        day_of_lo=vendor["day_of"].format("lo"),
        day_of_hi=vendor["day_of"].format("hi"),
        day_of_start=vendor["day_of"].format(epoch("t.started_at")),
        day_of_end=vendor["day_of"].format(f"COALESCE({epoch('t.stopped_at')}, %(now)s)"),
        session_filter=_session_filter(window, epoch("t.stopped_at") if frontiers else None),
        greatest=vendor["greatest"],
        least=vendor["least"],
    )
    return sql, _parameters(window)


def _session_filter(window: _Window, stopped: str | None) -> str:
    """Integers written out (ids from the database): one statement for SQLite and PostgreSQL."""
    where = [AFTER_FRONTIER.format(stopped=stopped)] if stopped else []
    if window.charger_id:
        where.append("AND t.charger_id = %(charger)s")
    if window.charger_ids is not None:
        where.append(
            f"AND t.charger_id IN ({', '.join(str(int(pk)) for pk in window.charger_ids) or 'NULL'})"
        )
    return " ".join(where)


def _parameters(window: _Window) -> dict:
    adapt = connection.ops.adapt_datetimefield_value
    bounds = [start.timestamp() for _day, start, _end in window.days] + [window.end.timestamp()]
    params = {
        "now": window.now.timestamp(),
        "until": adapt(min(window.end, window.now)),
        "since": adapt(window.start),
        "charger": window.charger_id,
        "measurand": ENERGY_REGISTER,
        "start": bounds[0],
        "end": bounds[-1],
    }
    if connection.vendor == "postgresql":
        params["bounds"] = bounds
    for index, (_day, start, end) in enumerate(window.days):
        params.update({f"day{index}": index, f"lo{index}": start.timestamp(), f"hi{index}": end.timestamp()})
    params.update({f"bound{index}": bound for index, bound in enumerate(bounds)})
    return params


# Storing the days that are over ----------------------------------------------------------------------

STORE_AFTER = timedelta(minutes=10)  # what a charger replays after a stop has arrived by then
STORE_DAYS = 7  # days worked out per run: a site catching up after an upgrade does it a week a minute


def store_charger_days(*, now: datetime | None = None) -> int:
    """Work out and keep, once, each charger's days that are over: before today, and before the start of
    any session of the charger still open or closed less than STORE_AFTER ago. Days of another zone are
    dropped first. Safe to run twice at once: the second insert of a day fails on its key and rolls back;
    a session recorded meanwhile for a day being stored makes the charger forget it again (below)."""
    now = now or timezone.now()
    ChargerDay.objects.exclude(zone=settings.TIME_ZONE).delete()
    plan = _days_to_store(now)
    if not plan:
        return 0
    first = min(first for first, _last in plan.values())
    last = min(max(last for _first, last in plan.values()), first + timedelta(days=STORE_DAYS - 1))
    window = _Window(_local_days(first, last), None, now, charger_ids=sorted(plan))
    rows = _charger_days(window, plan, now)
    try:
        with transaction.atomic():
            ChargerDay.objects.bulk_create(rows)
    except IntegrityError:  # another worker stored them first
        return 0
    ChargerDay.objects.forget_late_sessions(charger_ids=list(plan), recorded_after=now)
    return len(rows)


def _days_to_store(now: datetime) -> dict[int, tuple[date, date]]:
    """Each charger with days to store: (the day after its last stored one, its last day that is over)."""
    zone = site_zone()
    local = functools.partial(_local_date, zone=zone)
    stored_until = (
        ChargerDay.objects.filter(zone=settings.TIME_ZONE).values("charger_id").annotate(last=Max("day"))
    )
    unfinished = Transaction.objects.filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=now - STORE_AFTER))
    next_day = {
        charger: last + timedelta(days=1) for charger, last in stored_until.values_list("charger_id", "last")
    }
    blocked = dict(_first_start_per_charger(unfinished))
    plan = {}
    for charger, first_start in _first_start_per_charger(Transaction.objects.all()):
        first = next_day.get(charger, local(first_start))
        last = min(local(now), local(blocked.get(charger, now))) - timedelta(days=1)
        if first <= last:
            plan[charger] = (first, last)
    return plan


def _first_start_per_charger(sessions):
    return (
        sessions.order_by()
        .values("charger_id")
        .annotate(first=Min("started_at"))
        .values_list("charger_id", "first")
    )


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _charger_days(window: _Window, plan: dict, now: datetime) -> list[ChargerDay]:
    figures = defaultdict(lambda: dict.fromkeys(STORED_FIGURES, 0.0))
    for (charger_id, index), attribute, value in _walked_figures(window):
        figures[charger_id, index][attribute] += value
    return [
        ChargerDay(
            charger_id=charger_id,
            zone=settings.TIME_ZONE,
            day=day,
            stored_at=now,
            **figures[charger_id, index],
        )
        for charger_id, (first, last) in plan.items()
        for index, (day, _starts_at, _ends_at) in enumerate(window.days)
        if first <= day <= last
    ]
