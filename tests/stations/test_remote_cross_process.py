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
from tests.redis_server import CROSS_PROCESS_DB


@pytest.fixture
def two_servers(transactional_db, redis_server):
    env = server_env(REDIS_URL=redis_server.url(CROSS_PROCESS_DB), OCPP_COMMAND_TIMEOUT_SECONDS="10")
    first = ServerProcess(env)
    try:
        second = ServerProcess(env)
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def operator_token(operator) -> str:
    """The API token of the operator who sends the commands."""
    return Token.objects.create(user=operator).key


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


@pytest.mark.slow
def test_it_reaches_a_charger_connected_to_another_process(two_servers, operator_token):
    holder, issuer = two_servers
    register_charger("CP/7")
    url = f"{issuer.url}/api/v1/chargers/CP%2F7/commands/"

    async def scenario():
        async with connected_charger(holder.ws_url, "CP/7", cls=AnsweringCharger) as cp:
            await cp.boot()
            cp.answers["GetConfiguration"]["unknownKey"] = ["Nope"]
            answered = await asyncio.to_thread(
                post_json,
                url,
                operator_token,
                {"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval", "Nope"]}},
            )
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
def test_it_answers_offline_across_processes_when_the_charger_left(two_servers, operator_token):
    holder, issuer = two_servers
    register_charger("CP-8")

    async def connect_and_leave():
        async with connected_charger(holder.ws_url, "CP-8", cls=AnsweringCharger) as cp:
            await cp.boot()

    asyncio.run(connect_and_leave())
    status, body = post_json(
        f"{issuer.url}/api/v1/chargers/CP-8/commands/",
        operator_token,
        {"action": "Reset", "payload": {"type": "Soft"}},
    )

    assert (status, body["status"]) == (201, "offline")


@pytest.mark.slow
def test_it_closes_the_old_socket_held_by_another_process_and_commands_reach_the_new_one(
    two_servers, operator_token
):
    first, second = two_servers
    register_charger("CP-9")

    async def scenario():
        async with connected_charger(first.ws_url, "CP-9", cls=AnsweringCharger) as old:
            await old.boot()
            # The charger lost its link without the server noticing and came back through the other process.
            async with connected_charger(second.ws_url, "CP-9", cls=AnsweringCharger) as new:
                await asyncio.wait_for(old._connection.wait_closed(), 5)
                await new.boot()
                url = f"{first.url}/api/v1/chargers/CP-9/commands/"
                answered = await asyncio.to_thread(
                    post_json, url, operator_token, {"action": "ClearCache", "payload": {}}
                )
                return old._connection.close_code, answered, old.received, new.received

    close_code, (status, body), old_received, new_received = asyncio.run(scenario())

    assert close_code == 4000
    assert (status, body["status"]) == (201, "accepted")
    assert (old_received, new_received) == ([], [("ClearCache", {})])
