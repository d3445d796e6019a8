"""GetChargingProfiles to an OCPP 2.0.1 charger, from the charger page and the API: the charger answers, then
reports its profiles in ReportChargingProfiles by the request's requestId, and staff read them on the
command's result. The charger is the `ocpp` library's v201 ChargePoint over a real socket (schemas checked
both ways)."""

import asyncio

from ocpp.v201 import call

from stations.models import Command
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger201, connected_charger, orm
from tests.stations.test_remote_pages import browser
from tests.stations.test_security_whitepaper import api

MAX_PROFILE = {
    "id": 900,
    "stack_level": 0,
    "charging_profile_purpose": "ChargingStationMaxProfile",
    "charging_profile_kind": "Relative",
    "charging_schedule": [
        {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 32}]}
    ],
}
DEFAULT_PROFILE = {
    **MAX_PROFILE,
    "id": 901,
    "charging_profile_purpose": "TxDefaultProfile",
    "charging_schedule": [
        {"id": 1, "charging_rate_unit": "W", "charging_schedule_period": [{"start_period": 0, "limit": 7400}]}
    ],
}


def report(request_id, evse_id, profile, tbc=False):
    return call.ReportChargingProfiles(
        request_id=request_id,
        charging_limit_source="CSO",
        charging_profile=[profile],
        evse_id=evse_id,
        tbc=tbc,
    )


def with_charger(server, steps):
    async def scenario():
        async with connected_charger(server.ws_url, "CP-201", cls=AnsweringCharger201) as cp:
            cp.answers["GetChargingProfiles"] = {"status": "Accepted"}
            await cp.send(
                call.BootNotification(charging_station={"model": "AC", "vendor_name": "V"}, reason="PowerUp")
            )
            return await steps(cp)

    return asyncio.run(scenario())


def test_it_keeps_the_profiles_a_201_charger_reports_on_the_request_from_the_page(remote_csms, operator):
    register_charger("CP-201")

    async def steps(cp):
        form = {"charging-profiles-connector": "", "charging-profiles-purpose": ""}
        page = await orm(lambda: browser(operator).post("/chargers/CP-201/operate/charging-profiles/", form))
        request_id = cp.calls_of("GetChargingProfiles")[0]["requestId"]
        answers = [
            await cp.send(report(request_id, 0, MAX_PROFILE, tbc=True)),
            await cp.send(report(request_id, 1, DEFAULT_PROFILE)),
        ]
        return page, cp.calls_of("GetChargingProfiles"), answers

    page, sent, answers = with_charger(remote_csms, steps)

    command = Command.objects.get()
    assert page.status_code == 302
    assert sent == [{"requestId": command.pk, "chargingProfile": {}}]  # every profile of every EVSE
    assert (command.action, command.status) == ("GetChargingProfiles", "accepted")
    assert [answer.custom_data for answer in answers] == [None, None]  # answered {}
    assert [(part["evseId"], part.get("tbc")) for part in command.reported] == [(0, True), (1, False)]
    assert [part["chargingProfile"][0]["id"] for part in command.reported] == [900, 901]
    assert command.reported[1]["chargingProfile"][0]["chargingSchedule"][0]["chargingRateUnit"] == "W"
    history = browser(operator).get("/chargers/CP-201/").content.decode().split('id="history"')[1]
    assert "ChargingStationMaxProfile" in history and "TxDefaultProfile" in history


def test_it_asks_for_one_connectors_profiles_of_a_purpose_through_the_api(remote_csms, operator):
    register_charger("CP-201")
    client = api(operator)
    asked = {"evseId": 1, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}

    async def steps(cp):
        answer = await orm(
            client.post,
            "/api/v1/chargers/CP-201/commands/",
            {"action": "GetChargingProfiles", "payload": asked},
            format="json",
        )
        await cp.send(report(answer.json()["id"], 1, DEFAULT_PROFILE))
        await cp.send(report(answer.json()["id"] + 1000, 1, MAX_PROFILE))  # a request nobody sent
        return answer, cp.calls_of("GetChargingProfiles")

    answer, sent = with_charger(remote_csms, steps)

    assert answer.status_code == 201
    assert sent == [{**asked, "requestId": answer.json()["id"]}]
    [listed] = client.get("/api/v1/chargers/CP-201/commands/").json()
    assert [part["chargingProfile"][0]["id"] for part in listed["reported"]] == [901]


def test_it_refuses_get_charging_profiles_to_a_16_charger(db, operator):
    register_charger("CP-16", ocpp_version="1.6")

    answer = api(operator).post(
        "/api/v1/chargers/CP-16/commands/",
        {"action": "GetChargingProfiles", "payload": {"chargingProfile": {}}},
        format="json",
    )

    assert answer.status_code == 400 and "OCPP 1.6" in answer.json()["action"][0]
    assert not Command.objects.exists()
