"""Fixtures shared by every test: a real CSMS server process on the test database."""

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection

from stations.gateway.orm_pool import close_connections
from tests import personas
from tests.browser import browser_page, charger_loop, chromium, mark_browser_tests, phone_page  # noqa: F401
from tests.redis_server import CHANNEL_LAYER_DB, SharedRedis, free_port, start_redis

ROOT = Path(__file__).resolve().parent.parent


def database_url(settings_dict: dict) -> str:
    """The URL of the test database pytest-django created, for a server process."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class ServerProcess:
    """`manage.py serve` in a child process, as an operator would run it."""

    def __init__(self, env: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ocpp/"
        (ROOT / "var").mkdir(exist_ok=True)
        self.log_path = ROOT / "var" / f"test-server-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_listening()
        except BaseException:  # also a test timeout meanwhile: a server nobody holds would run on
            self.stop()
            raise

    def _wait_until_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not listen within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        """What the server printed so far, read through a file of its own: seeking the server's
        own handle would move the offset it writes at and overwrite the start of its log."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # a server stuck in shutdown must not outlive the tests
            self.process.kill()
            self.process.wait()
        self.log.close()


def server_env(**overrides) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "OCPP_WRITE_BEHIND_MS": "20",
        "OCPP_HEARTBEAT_INTERVAL": "120",
        "DEBUG": "False",
        "OCPP_ORM_THREADS": "4",
        "LOG_LEVEL": "INFO",
        # Every server of a pytest worker shares its database: one sweeping payments would start, or give
        # back, another test's payment. A test that needs the sweep asks for it (PAYMENT_SWEEP_SECONDS).
        "PAYMENT_SWEEP_SECONDS": "0",
    }  # some tests read the server's INFO lines
    env.pop("REDIS_URL", None)  # one process: the in-memory channel layer; cross-process tests opt in
    env.update(overrides)
    return env


@pytest.fixture(scope="session", autouse=True)
def close_orm_pool_connections(django_db_setup, django_db_blocker):
    """Tests that drive ChargerConnection directly leave connections in the ORM pool's
    threads; PostgreSQL would refuse to drop the test database at the end."""
    yield
    close_connections()
    with django_db_blocker.unblock():
        warn_of_sessions_left_open()


def warn_of_sessions_left_open():
    """Another session still on the test database makes its drop fail with a bare "being accessed by
    other users": name each one (its client, its start, its last statement) to find who left it."""
    if connection.vendor != "postgresql":
        return
    # A server process the last module stopped may still be closing its sessions: those go within a moment.
    deadline = time.monotonic() + 3
    while (left_open := sessions_on_test_database_but_this()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for session in left_open:
        warnings.warn(f"a session left open on the test database: {session}", stacklevel=1)


def sessions_on_test_database_but_this() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, client_port, backend_start, state, left(query, 300) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


@pytest.fixture(scope="session", autouse=True)
def own_default_channel_layer():
    """With REDIS_URL, the test process's own channel layer is on Redis as well: move it to this worker's
    database, or a test flushing it (which empties the whole database) drops another worker's messages."""
    if not os.environ.get("REDIS_URL"):
        yield
        return
    shared = django_settings.CHANNEL_LAYERS
    own_database = SharedRedis(os.environ["REDIS_URL"]).url(CHANNEL_LAYER_DB)
    default = {**shared["default"], "CONFIG": {**shared["default"]["CONFIG"], "hosts": [own_database]}}
    django_settings.CHANNEL_LAYERS = {**shared, "default": default}
    channel_layers.backends = {}  # as Django's setting_changed signal would have it
    yield
    django_settings.CHANNEL_LAYERS = shared
    channel_layers.backends = {}


@pytest.fixture(scope="session")
def redis_server():
    """This worker's own throwaway redis-server (or the one REDIS_URL names), for Redis channel layers."""
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def csms_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = ServerProcess(server_env())
    yield server
    server.stop()


def flush_after_server_writes(attempts: int = 10) -> None:
    """Empty the tables once the server's last background batch is in.

    The server writes meter values, statuses and the log in batches after a
    test's charger has gone; on PostgreSQL the test's TRUNCATE racing such a
    batch can deadlock, and the next test would start on leftovers. So flush
    here, retrying, before pytest-django's own flush.
    """
    for attempt in range(attempts):
        time.sleep(0.05)
        try:
            call_command("flush", interactive=False, verbosity=0)
            return
        except (CommandError, DatabaseError):
            if attempt == attempts - 1:
                raise


def own_server(name: str, **overrides):
    """The two fixtures of a test module's own server, started with server_env(**overrides).

    A callable value is called when the server starts (e.g. a database URL that needs the test
    database). `name` is the server for one test, on a transactional database emptied after it;
    `<name>_process` is the process, started once for the module. Use as:
    `door_process, door = own_server("door", TRUSTED_PROXIES="127.0.0.1")`.
    """

    @pytest.fixture(scope="module", name=f"{name}_process")
    def process(django_db_setup, django_db_blocker):
        with django_db_blocker.unblock():
            settings = {key: value() if callable(value) else value for key, value in overrides.items()}
            server = ServerProcess(server_env(**settings))
        yield server
        server.stop()

    @pytest.fixture(name=name)
    def server(request, transactional_db):
        yield request.getfixturevalue(f"{name}_process")
        flush_after_server_writes()

    return process, server


@pytest.fixture
def csms(csms_server, transactional_db):
    """The live server, with a database the test and the server both see committed."""
    yield csms_server
    flush_after_server_writes()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items):
    mark_browser_tests(items)


# --- the cast (tests.personas), as fixtures ------------------------------------------


@pytest.fixture
def driver(db):
    return personas.driver()


@pytest.fixture
def operator(db):
    return personas.operator()


@pytest.fixture
def clerk(db):
    return personas.clerk()


@pytest.fixture
def admin(db):
    return personas.admin()


@pytest.fixture
def outsider(db):
    return personas.outsider()
