"""deploy/backup.sh and deploy/restore.sh on PostgreSQL: dump, restore into a fresh database, the same rows.

The scripts run as a site runs them: reading their settings from an env file (CSMS_ENV_FILE, the
file the systemd units read), with the system's pg_dump, pg_restore and psql.
"""

import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from stations import services as station_services
from tests.billing.builders import T0, default_tariff, prepaid_card
from tests.conftest import database_url
from tests.deploy.nginx import DEPLOY, ROOT
from tests.factories import register_charger
from tests.personas import driver

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="backup.sh and restore.sh are for PostgreSQL (a SQLite site copies its file); CI runs them on PostgreSQL",
)


def a_site_with_money() -> None:
    """A charger, a driver's prepaid card topped up, and a finished session that charged it."""
    default_tariff()
    card = prepaid_card("TAG-BACKUP", "50.00", owner=driver())
    charger = register_charger("CP-BACKUP", "a-charger-key-of-24-chars")
    session, _ = station_services.start_transaction(
        charger=charger,
        connector_id=1,
        id_tag=card.id_tag,
        meter_start=1000,
        timestamp=T0,
        reservation_id=None,
    )
    station_services.stop_transaction(
        charger=charger, transaction_id=session.pk, meter_stop=11_000, timestamp=T0 + timedelta(minutes=40),
        reason="EVDisconnected", id_tag=card.id_tag, transaction_data=None, samples=[],
    )  # fmt: skip


def run(script: str, *arguments: str, env_file: Path) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "CSMS_ENV_FILE": str(env_file), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(DEPLOY / script), *arguments], env=environment, capture_output=True, text=True, timeout=60
    )


def site_env_file(directory: Path) -> Path:
    """The site's /etc/csms/csms.env, for the scripts: this test's database, a var dir of its own."""
    env_file = directory / "csms.env"
    env_file.write_text(
        f"DATABASE_URL={database_url(connection.settings_dict)}\nCSMS_VAR_DIR={directory / 'var'}\n"
    )
    return env_file


def contents(url: str) -> dict:
    """Every table's row count and a digest of its rows, and every sequence's position."""
    with psycopg.connect(url) as database:
        tables = database.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        found = {
            table: database.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM \"{table}\" t"
            ).fetchone()
            for (table,) in tables
        }
        sequences = database.execute("SELECT sequencename, last_value FROM pg_sequences").fetchall()
    return {**found, "sequences": sorted(sequences)}


@contextmanager
def fresh_database(name: str):
    """An empty database beside the test database, as `createdb` makes one; dropped afterwards."""
    settings = connection.settings_dict
    server = database_url({**settings, "NAME": "postgres"})
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url({**settings, "NAME": name})
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def only_dump(directory: Path) -> Path:
    [dump] = directory.glob("csms-*.dump")
    return dump


def test_it_restores_a_backup_into_a_fresh_database_row_for_row(transactional_db, tmp_path):
    a_site_with_money()
    env_file = site_env_file(tmp_path)

    backup = run("backup.sh", env_file=env_file)

    assert backup.returncode == 0, backup.stderr
    backups = tmp_path / "var" / "backups"  # created by the script itself, as the service user
    dump = only_dump(backups)
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700 and stat.S_IMODE(dump.stat().st_mode) == 0o600
    original = database_url(connection.settings_dict)
    restored_name = f"{connection.settings_dict['NAME']}_restored"
    with fresh_database(restored_name) as restored:
        restore = run("restore.sh", str(dump), restored_name, env_file=env_file)

        assert restore.returncode == 0, restore.stderr
        assert contents(restored) == contents(original)
        assert contents(restored)["billing_ledgerentry"][0] >= 2, "the top-up and the session's charge"
        assert migrations_complete(restored)


def migrations_complete(url: str) -> bool:
    """`manage.py migrate --check` on the restored database: nothing left to apply."""
    environment = {**os.environ, "DATABASE_URL": url}
    checked = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=environment, capture_output=True
    )
    return checked.returncode == 0


def test_it_never_restores_over_a_database_that_has_tables(transactional_db, tmp_path):
    a_site_with_money()
    env_file = site_env_file(tmp_path)
    assert run("backup.sh", env_file=env_file).returncode == 0
    before = contents(database_url(connection.settings_dict))

    restore = run("restore.sh", str(only_dump(tmp_path / "var" / "backups")), env_file=env_file)

    assert restore.returncode == 1 and "restore into a fresh one" in restore.stderr
    assert contents(database_url(connection.settings_dict)) == before
