"""Fixtures of the stations tests: a server on a Redis channel layer."""

import os

import pytest
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


@pytest.fixture
def clerk(clerk):
    """Claire with a staff account: the charger pages are open to all staff to look at, not to operate."""
    clerk.is_staff = True
    clerk.save(update_fields=["is_staff"])
    return clerk
