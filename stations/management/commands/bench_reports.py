"""How long the daily figures take on a large site: /reports/ for a month, a charger page for 30 days,
first with every day walked from the meter samples, then with the days that are over stored (the site's
minute job, stations.reports.store_charger_days), as a site that has run for a while has them.

Generates chargers, sessions (two connectors a charger, overlapping), their meter values and charges
with INSERT ... SELECT generate_series in a PostgreSQL database it DROPS and recreates, then renders
the pages through Django's test client in a child process running on that database.
"""

import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

SAMPLE_MINUTES = 10
DAYS = 60  # the generated sessions run over the 60 days before today (UTC)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--chargers", type=int, default=200)
        parser.add_argument("--sessions", type=int, default=200_000)
        parser.add_argument("--runs", type=int, default=5, help="renders per page; the median is printed")
        parser.add_argument(
            "--database-url",
            default="postgres://postgres@127.0.0.1:5432/csms_reports",
            help="a PostgreSQL database the benchmark DROPS and recreates",
        )
        parser.add_argument("--measure-here", action="store_true", help=argparse_hidden())

    def handle(self, *args, **options):
        if options["measure_here"]:
            return self._generate_and_measure(options)
        url = options["database_url"]
        if not url.startswith(("postgres://", "postgresql://")):
            raise CommandError("--database-url must be a PostgreSQL URL")
        _recreate_database(url)
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0"}
        manage = [sys.executable, sys.argv[0]]
        subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True)
        child = [*manage, "bench_reports", "--measure-here", "--runs", str(options["runs"])]
        child += ["--chargers", str(options["chargers"]), "--sessions", str(options["sessions"])]
        subprocess.run(child, env=env, check=True)

    def _generate_and_measure(self, options):
        began = time.monotonic()
        _generate(options["chargers"], options["sessions"])
        self.stdout.write(
            f"generated {options['chargers']} chargers, {options['sessions']} sessions "
            f"in {time.monotonic() - began:.1f} s"
        )
        client = _signed_in_client()
        today = _today()
        month = f"/reports/?from={today - timedelta(days=30)}&to={today}"
        pages = [
            ("/reports/ for 31 days", month),
            ("/reports/ for 31 days, one day's chargers", f"{month}&day={today - timedelta(days=3)}"),
            ("/reports/daily.csv for 31 days", month.replace("/reports/", "/reports/daily.csv")),
            ("charger page for 30 days", f"/chargers/CP-{options['chargers'] // 2:04d}/"),
        ]
        self._measure_pages(client, pages, options["runs"], "every day walked from the samples")
        began = time.monotonic()
        stored = _store_everything()
        self.stdout.write(f"stored {stored} charger-days in {time.monotonic() - began:.1f} s")
        self._measure_pages(
            client, pages, options["runs"], "the days that are over stored, as the minute job keeps them"
        )

    def _measure_pages(self, client, pages, runs: int, title: str) -> None:
        self.stdout.write(f"{title}:")
        for label, path in pages:
            median, queries = _measure(client, path, runs)
            self.stdout.write(f"  {label}: median {median * 1000:.0f} ms over {runs} runs, {queries} queries")


def _store_everything() -> int:
    from stations.reports import store_charger_days

    stored = 0
    while batch := store_charger_days():
        stored += batch
    return stored


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def _recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def _today():
    from stations.reports import local_today

    return local_today()


def _signed_in_client() -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("bench", password="bench-pass-1")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _measure(client: Client, path: str, runs: int) -> tuple[float, int]:
    durations = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get(path)
            durations.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise CommandError(f"{path} answered {response.status_code}")
    return statistics.median(durations), len(queries)


def _generate(chargers: int, sessions: int) -> None:
    """Each charger starts a session every `gap` seconds, connectors alternating, lasting 60 to 120 minutes.

    The register rises 100 Wh a sample for the first three quarters of a session, then stays (a full
    battery); every session is finished and paid for (0.30 EUR/kWh) except the last one of each charger.
    """
    per_charger = max(1, sessions // chargers)
    gap = DAYS * 86400 // per_charger
    with connection.cursor() as cursor:
        cursor.execute(CHARGERS, [chargers])
        cursor.execute(SESSIONS, {"n": sessions, "chargers": chargers, "gap": gap, "days": DAYS})
        cursor.execute(SAMPLES, {"step": SAMPLE_MINUTES})
        cursor.execute(CHARGES)
        cursor.execute("ANALYZE")


CHARGERS = """
INSERT INTO stations_charger (charge_point_id, name, password, approval, vendor, model, serial_number,
    charge_box_serial_number, firmware_version, iccid, imsi, meter_type, meter_serial_number, ocpp_version,
    is_connected, connection_id, channel_name, remote_address, firmware_status, diagnostics_status, created_at)
SELECT 'CP-' || lpad(g::text, 4, '0'), '', '', 'accepted', '', '', '', '', '', '', '', '', '', '1.6',
    false, '', '', '', '', '', now()
FROM generate_series(0, %s - 1) g
"""

SESSIONS = """
INSERT INTO stations_transaction (charger_id, connector_id, id_tag, id_tag_status, meter_start, started_at,
    meter_stop, stopped_at, stop_reason, stop_id_tag, created_at)
SELECT c.id, 1 + (g / %(chargers)s) %% 2, 'BENCH', 'Accepted', 0, s.started_at,
    CASE WHEN s.started_at + s.length < now() THEN 100 * (s.length_minutes * 3 / 4 / 10) END,
    CASE WHEN s.started_at + s.length < now() THEN s.started_at + s.length END,
    '', '', now()
FROM generate_series(0, %(n)s - 1) g
JOIN stations_charger c ON c.charge_point_id = 'CP-' || lpad((g %% %(chargers)s)::text, 4, '0')
CROSS JOIN LATERAL (SELECT
    date_trunc('day', now()) - make_interval(days => %(days)s)
        + make_interval(secs => (g / %(chargers)s) * %(gap)s + (g %% %(chargers)s) * 7) AS started_at,
    60 + (g * 37) %% 61 AS length_minutes,
    make_interval(mins => 60 + (g * 37) %% 61) AS length) s
"""

SAMPLES = """
INSERT INTO stations_metervalue (charger_id, connector_id, transaction_id, timestamp, measurand, phase, unit,
    context, location, format, value, numeric_value)
SELECT t.charger_id, t.connector_id, t.id, t.started_at + make_interval(mins => k * %(step)s),
    'Energy.Active.Import.Register', '', 'Wh', 'Sample.Periodic', 'Outlet', 'Raw',
    (100 * LEAST(k, d.minutes * 3 / 4 / 10))::text, 100 * LEAST(k, d.minutes * 3 / 4 / 10)
FROM stations_transaction t
CROSS JOIN LATERAL (SELECT (EXTRACT(EPOCH FROM COALESCE(t.stopped_at, now()) - t.started_at) / 60)::int AS minutes) d
CROSS JOIN LATERAL generate_series(1, GREATEST(0, (d.minutes - 1) / %(step)s)) k
"""

CHARGES = """
INSERT INTO billing_sessioncharge (transaction_id, currency, energy_wh, charging_seconds, idle_seconds, net, tax,
    total, charged, uncollected, free, breakdown, created_at)
SELECT id, 'EUR', meter_stop - meter_start, 0, 0, (meter_stop - meter_start) * 0.0003,
    0, (meter_stop - meter_start) * 0.0003, (meter_stop - meter_start) * 0.0003, 0, false, '[]', now()
FROM stations_transaction WHERE stopped_at IS NOT NULL
"""
