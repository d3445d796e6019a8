"""Fixtures of the stations tests: a server on a Redis channel layer."""

import pytest

from tests.conftest import ServerProcess, flush_after_server_writes, server_env
from tests.redis_server import REMOTE_CSMS_DB

# --- servers for remote-command tests ------------------------------------------------


def redis_channel_layers(url: str) -> dict:
    return {"default": {"BACKEND": "csms.channel_layer.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


@pytest.fixture(scope="session")
def remote_csms_server(django_db_setup, django_db_blocker, redis_server):
    with django_db_blocker.unblock():
        server = ServerProcess(server_env(REDIS_URL=redis_server.url(REMOTE_CSMS_DB)))
    yield server
    server.stop()


@pytest.fixture
def remote_csms(remote_csms_server, redis_server, transactional_db, settings):
    """The live server on a Redis channel layer, and this test process on the same layer:
    a command sent from a test (or a view or API call run in the test) reaches a
    charger connected to the server, as it would from another server process."""
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_server.url(REMOTE_CSMS_DB))
    yield remote_csms_server
    flush_after_server_writes()


@pytest.fixture
def clerk(clerk):
    """Claire with a staff account: the charger pages are open to all staff to look at, not to operate."""
    clerk.is_staff = True
    clerk.save(update_fields=["is_staff"])
    return clerk
