"""POST/GET /api/v1/chargers/<id>/commands/: token or session auth, operators only, schema-checked."""

import asyncio

from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.models import Command
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def post_to_live_charger(server, client, charge_point_id, body, prepare=None):
    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()
            if prepare:
                prepare(cp)
            url = f"/api/v1/chargers/{charge_point_id}/commands/"
            return await orm(client.post, url, body, format="json"), cp.received

    return asyncio.run(scenario())


def test_it_sends_a_command_with_a_token_made_by_the_management_command(remote_csms, operator):
    register_charger("CP-1")
    call_command("drf_create_token", "olga")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=operator).key}")

    answer, received = post_to_live_charger(
        remote_csms, client, "CP-1", {"action": "UnlockConnector", "payload": {"connectorId": 1}}
    )

    assert answer.status_code == 201
    body = answer.json()
    assert (body["action"], body["status"], body["response"]) == (
        "UnlockConnector",
        "accepted",
        {"status": "Unlocked"},
    )
    assert (body["requested_by"], body["source"], body["charger"]) == ("olga", "api", "CP-1")
    assert body["id"] == Command.objects.get().pk
    assert received == [("UnlockConnector", {"connectorId": 1})]


def test_it_lists_the_history_newest_first(remote_csms, operator):
    charger = register_charger("CP/1")  # reaches the API URL-encoded
    first = Command.objects.create(charger=charger, action="ClearCache", status="offline")
    second = Command.objects.create(
        charger=charger, action="Reset", payload={"type": "Soft"}, status="timeout"
    )

    answer = api(operator).get("/api/v1/chargers/CP%2F1/commands/")

    assert answer.status_code == 200
    assert [c["id"] for c in answer.json()] == [second.pk, first.pk]
    assert answer.json()[0]["payload"] == {"type": "Soft"}


def test_it_works_with_session_auth(remote_csms, operator):
    register_charger("CP-1")
    client = APIClient()
    client.force_login(operator)

    answer = client.post(
        "/api/v1/chargers/CP-1/commands/", {"action": "ClearCache", "payload": {}}, format="json"
    )

    assert answer.status_code == 201
    assert answer.json()["status"] == "offline"


def test_it_names_the_field_the_schema_rejects_before_sending(remote_csms, operator):
    register_charger("CP-1", is_connected=True)
    limit_payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.25}],
            },
        },
    }
    cases = [
        ({"action": "Reset", "payload": {"type": "Medium"}}, "type"),
        ({"action": "ChangeConfiguration", "payload": {"key": "HeartbeatInterval"}}, "value"),
        ({"action": "ClearCache", "payload": {"force": True}}, "force"),
        (
            {"action": "SetChargingProfile", "payload": limit_payload},
            "csChargingProfiles.chargingSchedule.chargingSchedulePeriod.0.limit",
        ),
    ]

    for body, field in cases:
        answer = api(operator).post("/api/v1/chargers/CP-1/commands/", body, format="json")
        assert answer.status_code == 400, body
        assert list(answer.json()["payload"]) == [field], answer.json()
    assert not Command.objects.exists()


def test_it_refuses_an_action_not_in_the_list(remote_csms, operator):
    register_charger("CP-1", is_connected=True)

    for action in ("BootNotification", "GetVariables", "reset"):
        answer = api(operator).post("/api/v1/chargers/CP-1/commands/", {"action": action}, format="json")
        assert answer.status_code == 400
        assert "action" in answer.json()
    assert not Command.objects.exists()


def test_it_refuses_everyone_but_operators(remote_csms, clerk, outsider):
    register_charger("CP-1", is_connected=True)
    body = {"action": "Reset", "payload": {"type": "Hard"}}

    assert api().post("/api/v1/chargers/CP-1/commands/", body, format="json").status_code == 401
    assert api(outsider).post("/api/v1/chargers/CP-1/commands/", body, format="json").status_code == 403
    assert api(clerk).post("/api/v1/chargers/CP-1/commands/", body, format="json").status_code == 403
    assert api(clerk).get("/api/v1/chargers/CP-1/commands/").status_code == 403
    assert not Command.objects.exists()


def test_it_lets_a_superuser_operate(remote_csms, django_user_model):
    register_charger("CP-1")
    admin = django_user_model.objects.create_superuser("root", password="root-pass-1")

    answer = api(admin).post(
        "/api/v1/chargers/CP-1/commands/", {"action": "GetLocalListVersion"}, format="json"
    )

    assert answer.status_code == 201


def test_it_answers_404_for_an_unknown_charger(remote_csms, operator):
    answer = api(operator).post("/api/v1/chargers/NOPE/commands/", {"action": "ClearCache"}, format="json")

    assert answer.status_code == 404
