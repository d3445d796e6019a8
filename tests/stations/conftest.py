"""Fixtures of the stations tests: a server on a Redis channel layer, and the staff personas."""

import importlib
import os

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from accounts.models import User
from tests.conftest import ServerProcess, flush_after_server_writes, server_env


# --- servers for remote-command tests ------------------------------------------------


def redis_url(first_db: int) -> str:
    """A Redis database of its own per pytest-xdist worker, so channel groups never mix."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"redis://127.0.0.1:6379/{first_db + int(worker.removeprefix('gw') or 0)}"


def redis_channel_layers(url: str) -> dict:
    return {"default": {"BACKEND": "csms.channel_layer.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


REMOTE_REDIS_DB = 8  # 8…11 with up to four xdist workers; the cross-process test uses 12…15


@pytest.fixture(scope="session")
def remote_csms_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = ServerProcess(server_env(REDIS_URL=redis_url(REMOTE_REDIS_DB)))
    yield server
    server.stop()


@pytest.fixture
def remote_csms(remote_csms_server, transactional_db, settings):
    """The live server on a Redis channel layer, and this test process on the same layer:
    a command sent from a test (or a view or API call run in the test) reaches a
    charger connected to the server, as it would from another server process."""
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_url(REMOTE_REDIS_DB))
    yield remote_csms_server
    flush_after_server_writes()


# --- personas for remote-command tests -------------------------------------------------


def operators_group():
    """The "Operators" group, made by the data migration's own code (a flushed test DB lost it)."""
    migration = importlib.import_module("stations.migrations.0003_operators_group")
    migration.create_group(apps, None)
    return Group.objects.get(name=migration.OPERATORS)


@pytest.fixture
def operator(transactional_db):
    user = User.objects.create_user("olga", password="operator-pass-1", is_staff=True, name="Olga Operator")
    user.groups.add(operators_group())
    return user


@pytest.fixture
def clerk(transactional_db):
    """Front-desk staff: may look at chargers, may not operate them."""
    return User.objects.create_user("fred", password="clerk-pass-1", is_staff=True, name="Fred Desk")


@pytest.fixture
def outsider(transactional_db):
    return User.objects.create_user("dave", password="driver-pass-1", name="Dave Driver")
