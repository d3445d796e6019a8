"""Two daphne processes sharing Redis: a command issued on one reaches a charger held by the other."""

import asyncio
import json
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from stations.models import Command
from tests.conftest import ServerProcess, server_env
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger
from tests.stations.conftest import redis_url

CROSS_PROCESS_REDIS_DB = 12  # 12…15 with up to four xdist workers


@pytest.fixture
def two_servers(transactional_db):
    env = server_env(REDIS_URL=redis_url(CROSS_PROCESS_REDIS_DB), OCPP_COMMAND_TIMEOUT_SECONDS="10")
    first = ServerProcess(env)
    try:
        second = ServerProcess(env)
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json",
    })
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


@pytest.mark.slow
def test_it_reaches_a_charger_connected_to_another_process(two_servers, operator):
    holder, issuer = two_servers
    register_charger("CP/7")
    token = Token.objects.create(user=operator).key
    url = f"{issuer.url}/api/v1/chargers/CP%2F7/commands/"

    async def scenario():
        async with connected_charger(holder.ws_url, "CP/7", cls=AnsweringCharger) as cp:
            await cp.boot()
            cp.answers["GetConfiguration"]["unknownKey"] = ["Nope"]
            answered = await asyncio.to_thread(post_json, url, token, {
                "action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval", "Nope"]}})
            return answered, cp.received

    (status, body), received = asyncio.run(scenario())

    assert status == 201
    assert (body["status"], body["requested_by"]) == ("accepted", "olga")
    assert body["response"]["unknownKey"] == ["Nope"]
    assert received == [("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})]
    command = Command.objects.get()
    assert command.handled_by  # claimed and run by the consumer in the holder's process
    assert command.charger.configuration.filter(key="HeartbeatInterval").exists()


@pytest.mark.slow
def test_it_answers_offline_across_processes_when_the_charger_left(two_servers, operator):
    holder, issuer = two_servers
    register_charger("CP-8")
    token = Token.objects.create(user=operator).key

    async def connect_and_leave():
        async with connected_charger(holder.ws_url, "CP-8", cls=AnsweringCharger) as cp:
            await cp.boot()

    asyncio.run(connect_and_leave())
    status, body = post_json(f"{issuer.url}/api/v1/chargers/CP-8/commands/", token,
                             {"action": "Reset", "payload": {"type": "Soft"}})

    assert (status, body["status"]) == (201, "offline")
