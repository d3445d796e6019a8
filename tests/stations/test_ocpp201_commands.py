"""Commands to a live OCPP 2.0.1 charger through the same stations.commands as 1.6: the 2.0.1 action
names for a 2.0.1 charger, checked against the 2.0.1 schemas, and the 1.6 names refused there (and the
reverse) with a 400 that says which protocol the charger speaks."""

import asyncio

import pytest
from django.test import Client
from ocpp.v201 import call

from stations import commands
from stations.models import Command, TransactionEvent
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger201, connected_charger, orm, wait_until

EVSE_1 = {"id": 1, "connectorId": 1}
HEARTBEAT_INTERVAL = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
EVERY_OPERATION = [
    ("RequestStartTransaction", {"idToken": {"idToken": "DRIVER-1", "type": "ISO14443"}, "evseId": 1}),
    ("RequestStopTransaction", {"transactionId": "tx-1"}),
    ("Reset", {"type": "Immediate"}),
    ("UnlockConnector", {"evseId": 1, "connectorId": 1}),
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    ("GetVariables", {"getVariableData": [HEARTBEAT_INTERVAL]}),
    ("SetVariables", {"setVariableData": [{"attributeValue": "60", **HEARTBEAT_INTERVAL}]}),
    ("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": EVSE_1}),
    (
        "SetChargingProfile",
        {
            "evseId": 1,
            "chargingProfile": {
                "id": 901,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
                    }
                ],
            },
        },
    ),
    ("ClearChargingProfile", {"chargingProfileId": 901}),
    ("GetCompositeSchedule", {"duration": 3600, "evseId": 1}),
    ("ClearCache", {}),
    (
        "SendLocalList",
        {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "DRIVER-1", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"},
                }
            ],
        },
    ),
    ("GetLocalListVersion", {}),
    (
        "ReserveNow",
        {
            "expiryDateTime": "2030-01-01T00:00:00.000Z",
            "idToken": {"idToken": "DRIVER-1", "type": "ISO14443"},
        },
    ),
    ("CancelReservation", {"reservationId": 1}),
    (
        "UpdateFirmware",
        {
            "requestId": 2,
            "firmware": {
                "location": "https://fw.example/v2.bin",
                "retrieveDateTime": "2026-11-22T03:00:00.000Z",
            },
        },
    ),
    (
        "GetLog",
        {
            "logType": "DiagnosticsLog",
            "requestId": 3,
            "log": {"remoteLocation": "ftp://logs.example/upload/"},
        },
    ),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "hello"}),
]


def with_charger(server, steps, charge_point_id="CP-201"):
    """Run `steps(cp)` with a 2.0.1 charger connected and booted; returns its result."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=AnsweringCharger201) as cp:
            await cp.send(
                call.BootNotification(charging_station={"model": "AC", "vendor_name": "V"}, reason="PowerUp")
            )
            return await steps(cp)

    return asyncio.run(scenario())


@pytest.mark.parametrize("action,payload", EVERY_OPERATION, ids=[action for action, _ in EVERY_OPERATION])
def test_it_sends_each_201_operation_and_stores_the_answer(remote_csms, operator, action, payload):
    charger = register_charger("CP-201")

    async def steps(cp):
        command = await orm(commands.send, charger=charger, action=action, payload=payload, user=operator)
        return command, cp.calls_of(action)

    command, received = with_charger(remote_csms, steps)

    assert command.status == Command.Status.ACCEPTED, command.outcome_text
    assert command.response == AnsweringCharger201.DEFAULT_ANSWERS[action]
    assert received == [command.payload]


def test_it_names_a_remote_start_so_that_the_session_it_starts_is_linked_to_it(remote_csms, operator):
    charger = register_charger("CP-201")
    request = {"idToken": {"idToken": "DRIVER-1", "type": "Central"}, "evseId": 1}

    async def steps(cp):
        command = await orm(commands.send, charger=charger, action="RequestStartTransaction", payload=request)
        remote_start_id = cp.calls_of("RequestStartTransaction")[0]["remoteStartId"]
        await cp.send(
            call.TransactionEvent(
                event_type="Started",
                timestamp="2027-03-01T16:00:00Z",
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": "tx-1", "remote_start_id": remote_start_id},
                evse={"id": 1},
                id_token={"id_token": "DRIVER-1", "type": "Central"},
            )
        )
        return command, remote_start_id

    command, remote_start_id = with_charger(remote_csms, steps)

    assert remote_start_id == command.pk
    # The Started's row is written behind, a moment after its answer.
    linked = wait_until(lambda: TransactionEvent.objects.filter(remote_start_id=command.pk).first())
    assert linked.session.charger_transaction_id == "tx-1"


@pytest.mark.parametrize(
    ("version", "action", "payload", "speaks"),
    [
        ("2.0.1", "RemoteStartTransaction", {"connectorId": 1, "idTag": "DRIVER-1"}, "OCPP 2.0.1"),
        ("2.0.1", "GetConfiguration", {}, "OCPP 2.0.1"),
        (
            "1.6",
            "RequestStartTransaction",
            {"idToken": {"idToken": "D", "type": "Central"}, "remoteStartId": 1},
            "OCPP 1.6",
        ),
    ],
)
def test_it_refuses_an_action_of_the_other_protocol_with_a_400_naming_the_chargers(
    operator, version, action, payload, speaks
):
    register_charger("CP-X", ocpp_version=version)
    client = Client()
    client.force_login(operator)

    answer = client.post(
        "/api/v1/chargers/CP-X/commands/",
        {"action": action, "payload": payload},
        content_type="application/json",
    )

    assert answer.status_code == 400
    assert f"this charger speaks {speaks}" in answer.json()["action"][0]
    assert not Command.objects.exists()


def test_it_checks_a_201_payload_against_the_201_schema(operator):
    charger = register_charger("CP-201", ocpp_version="2.0.1")

    with pytest.raises(commands.CommandRefused) as refused:
        commands.send(
            charger=charger, action="Reset", payload={"type": "Hard"}
        )  # 1.6's word: 2.0.1 has Immediate

    assert "type" in refused.value.errors
    assert not Command.objects.exists()


def test_it_keeps_the_variables_a_201_charger_read_out_or_took_in_its_device_model(remote_csms):
    charger = register_charger("CP-201")
    set_variables = {
        "setVariableData": [
            {"attributeValue": "60", **HEARTBEAT_INTERVAL},
            {"attributeValue": "x", "component": {"name": "Locked"}, "variable": {"name": "Thing"}},
        ]
    }

    async def steps(cp):
        await orm(
            commands.send,
            charger=charger,
            action="GetVariables",
            payload={"getVariableData": [HEARTBEAT_INTERVAL]},
        )
        read = await orm(lambda: dict(charger.device_model.values_list("variable", "value")))
        cp.answers["SetVariables"] = {
            "setVariableResult": [
                {"attributeStatus": "RebootRequired", **HEARTBEAT_INTERVAL},
                {
                    "attributeStatus": "Rejected",
                    "component": {"name": "Locked"},
                    "variable": {"name": "Thing"},
                },
            ]
        }
        await orm(commands.send, charger=charger, action="SetVariables", payload=set_variables)
        return read

    read = with_charger(remote_csms, steps)

    assert read == {"HeartbeatInterval": "300"}
    assert dict(charger.device_model.values_list("variable", "value")) == {"HeartbeatInterval": "60"}
