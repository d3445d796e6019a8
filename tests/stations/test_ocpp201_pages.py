"""The charger page and the admin's actions speak each charger's protocol: the same operations, by the same
slugs, send 2.0.1's calls to a 2.0.1 charger (stations.forms.OPERATION_FORMS) and show their outcome as
1.6's; operations 2.0.1 has no counterpart for are not offered there. The charger is the `ocpp` library's
v201 ChargePoint over a real socket, which checks every call against the official 2.0.1 schemas."""

import asyncio
from datetime import timedelta
from unittest.mock import ANY

import pytest
from django.utils import timezone
from ocpp.v201 import call

from rfid.models import IdTag
from stations.forms import OPERATION_GROUPS, OPERATIONS, OPERATIONS_201
from stations.models import Command, DeviceModelVariable, Reservation, Transaction
from tests.billing.builders import default_tariff, personal_card, prepaid_card
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger201, connected_charger, orm
from tests.stations.test_remote_admin_actions import run_action
from tests.stations.test_remote_pages import browser, section_of

HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
CARD = {"idToken": "DRIVER-1", "type": "ISO14443"}


def operate201(server, user, operation, data, before=None, charge_point_id="CP-201"):
    """Post an operation form of a live 2.0.1 charger's page; returns the followed page and the calls the
    charger got. `before(cp)` (async) runs once the charger has booted."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=AnsweringCharger201) as cp:
            await cp.send(
                call.BootNotification(charging_station={"model": "AC", "vendor_name": "V"}, reason="PowerUp")
            )
            if before:
                await before(cp)
            form = {f"{operation}-{field}": value for field, value in data.items()}
            url = f"/chargers/{charge_point_id}/operate/{operation}/"
            page = await orm(lambda: browser(user).post(url, form, follow=True))
            return page, cp.received

    return asyncio.run(scenario())


def messages_of(page) -> list[str]:
    return [str(message) for message in page.context["messages"]]


# Each operation of a 2.0.1 charger's page: what staff type, and the call the charger gets (ANY: a time
# of now, or an id the CSMS assigns, tested on its own below).
EVERY_201_OPERATION = {
    "remote-start": (
        {"connector": "1", "id_tag": "DRIVER-1", "limit": "7.4", "unit": "kW"},
        "RequestStartTransaction",
        {
            "evseId": 1,
            "idToken": CARD,
            "remoteStartId": ANY,
            "chargingProfile": {
                "id": 899,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}],
                    }
                ],
            },
        },
    ),
    "remote-stop": (
        {"transaction": "tx-elsewhere"},
        "RequestStopTransaction",
        {"transactionId": "tx-elsewhere"},
    ),
    "limit": (
        {"connector": "0", "limit": "16.25", "unit": "A"},
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 900,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": ANY,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.2}],
                    }
                ],
            },
        },
    ),
    "clear-limit": ({"connector": "1"}, "ClearChargingProfile", {"chargingProfileId": 901}),
    "composite-schedule": (
        {"connector": "1", "duration": "600"},
        "GetCompositeSchedule",
        {"evseId": 1, "duration": 600},
    ),
    "charging-profiles": (
        {"connector": "1", "purpose": "TxDefaultProfile"},
        "GetChargingProfiles",
        {"requestId": ANY, "evseId": 1, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
    ),
    "reset": ({"type": "Immediate"}, "Reset", {"type": "Immediate"}),
    "unlock": ({"connector": "2", "plug": "1"}, "UnlockConnector", {"evseId": 2, "connectorId": 1}),
    "availability": (
        {"connector": "0", "type": "Inoperative"},
        "ChangeAvailability",
        {"operationalStatus": "Inoperative"},
    ),
    "get-configuration": (
        {"keys": "OCPPCommCtrlr.HeartbeatInterval"},
        "GetVariables",
        {"getVariableData": [HEARTBEAT]},
    ),
    "change-configuration": (
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        "SetVariables",
        {"setVariableData": [{**HEARTBEAT, "attributeValue": "60"}]},
    ),
    "clear-cache": ({}, "ClearCache", {}),
    "trigger": (
        {"message": "StatusNotification", "connector": "1"},
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "evse": {"id": 1}},
    ),
    "update-firmware": (
        {"location": "https://firmware.example/3.0.bin", "retries": "2"},
        "UpdateFirmware",
        {
            "requestId": ANY,
            "firmware": {"location": "https://firmware.example/3.0.bin", "retrieveDateTime": ANY},
            "retries": 2,
        },
    ),
    "send-local-list": ({}, "SendLocalList", {"versionNumber": 1, "updateType": "Full"}),
    "local-list-version": ({}, "GetLocalListVersion", {}),
    "reserve": (
        {"connector": "1", "id_tag": "DRIVER-1", "minutes": "15"},
        "ReserveNow",
        {"id": ANY, "expiryDateTime": ANY, "idToken": CARD, "evseId": 1},
    ),
    "cancel-reservation": ({"reservation": "7"}, "CancelReservation", {"reservationId": 7}),
    "data-transfer": (
        {"vendor_id": "com.example", "message_id": "ping", "data": "hello"},
        "DataTransfer",
        {"vendorId": "com.example", "messageId": "ping", "data": "hello"},
    ),
    "get-log": (
        {"log_type": "DiagnosticsLog", "location": "ftp://logs.example/upload/"},
        "GetLog",
        {
            "logType": "DiagnosticsLog",
            "requestId": ANY,
            "log": {"remoteLocation": "ftp://logs.example/upload/"},
        },
    ),
}
HIDDEN_FOR_201 = [
    "get-diagnostics",
    "signed-update-firmware",
    "install-certificate",
    "installed-certificates",
    "delete-certificate",
    "extended-trigger",
]


def test_it_knows_every_201_operation_and_which_1_6_ones_2_0_1_has_not():
    assert sorted(EVERY_201_OPERATION) == sorted(OPERATIONS_201)
    assert sorted(set(OPERATIONS) - set(OPERATIONS_201)) == sorted(HIDDEN_FOR_201)
    assert set(OPERATIONS_201) <= {slug for _key, _title, slugs in OPERATION_GROUPS for slug in slugs}


@pytest.mark.parametrize("operation", list(EVERY_201_OPERATION))
def test_it_sends_each_operation_of_the_page_to_a_201_charger_in_201s_words(remote_csms, operator, operation):
    register_charger("CP-201")
    data, action, payload = EVERY_201_OPERATION[operation]

    page, received = operate201(remote_csms, operator, operation, data)

    command = Command.objects.get()
    assert received == [(action, payload)]
    assert (command.action, command.payload, command.status) == (action, received[0][1], "accepted")
    assert messages_of(page)[0].startswith(f"{OPERATIONS_201[operation].title}: accepted")
    assert page.context["history"][0] == command


def test_it_posts_every_201_operation_from_its_section_and_each_passes_the_201_schema(db, operator):
    register_charger("CP-201", ocpp_version="2.0.1")  # offline: checked against the schema, then not sent
    client = browser(operator)

    for slug, (data, _action, _payload) in EVERY_201_OPERATION.items():
        form = {f"{slug}-{field}": value for field, value in data.items()}
        page = client.post(f"/chargers/CP-201/operate/{slug}/", form, follow=True)
        title = OPERATIONS_201[slug].title
        assert f"{title}: charger offline: the charger is not connected" in page.content.decode(), slug

    sent = list(Command.objects.order_by("id").values_list("action", "status"))
    assert sent == [(action, "offline") for _data, action, _payload in EVERY_201_OPERATION.values()]


def test_it_offers_a_201_charger_only_its_protocols_operations(db, operator, admin):
    register_charger("CP-201", ocpp_version="2.0.1")
    register_charger("CP-16", ocpp_version="1.6")

    html = browser(admin).get("/chargers/CP-201/").content.decode()
    html16 = browser(admin).get("/chargers/CP-16/").content.decode()

    for slug in HIDDEN_FOR_201:
        assert f'id="operate-{slug}"' not in html and f'id="operate-{slug}"' in html16, slug
    for slug in OPERATIONS_201:
        assert f'id="operate-{slug}"' in html, slug
    assert 'id="operations-security"' not in html  # a section left empty is not shown
    assert 'id="operate-password"' in html and 'id="operate-password"' in html16  # each its protocol's
    assert 'name="unlock-plug"' in section_of(html, "session") and 'name="unlock-plug"' not in html16
    assert 'value="OnIdle"' in section_of(html, "availability") and 'value="Soft"' not in html


def test_it_sends_nothing_for_an_operation_a_201_charger_has_not(db, operator):
    register_charger("CP-201", ocpp_version="2.0.1")

    page = browser(operator).post(
        "/chargers/CP-201/operate/get-diagnostics/", {"get-diagnostics-location": "ftp://x/"}, follow=True
    )

    assert messages_of(page) == ["Not sent: an OCPP 2.0.1 charger has no “get-diagnostics” operation."]
    assert not Command.objects.exists()
    assert browser(operator).post("/chargers/CP-201/operate/no-such-thing/").status_code == 404


def test_it_stops_a_201_session_named_by_its_number_on_the_page(remote_csms, operator):
    charger = register_charger("CP-201")
    session = Transaction.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="DRIVER-1",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
        charger_transaction_id="b6c1a0e2-tx",
    )

    page, received = operate201(remote_csms, operator, "remote-stop", {"transaction": str(session.pk)})

    assert received == [("RequestStopTransaction", {"transactionId": "b6c1a0e2-tx"})]
    assert "(charger's id b6c1a0e2-tx)" in page.content.decode()  # "Charging now" names both ids


def test_it_builds_the_reservation_from_a_201_reserve_now_and_offers_to_cancel_it(remote_csms, operator):
    register_charger("CP-201")
    personal_card("DRIVER-1", parent_id_tag="FLEET-7")

    page, received = operate201(
        remote_csms, operator, "reserve", {"connector": "2", "id_tag": "DRIVER-1", "minutes": "15"}
    )

    reservation = Reservation.objects.get()
    [(action, payload)] = received
    assert payload == {
        "id": reservation.pk,
        "expiryDateTime": ANY,
        "idToken": CARD,
        "evseId": 2,
        "groupIdToken": {"idToken": "FLEET-7", "type": "Central"},
    }
    assert (reservation.status, reservation.connector_id, reservation.id_tag) == ("active", 2, "DRIVER-1")
    assert (reservation.parent_id_tag, reservation.requested_by) == ("FLEET-7", operator)
    in_15_minutes = timezone.now() + timedelta(minutes=15)
    assert in_15_minutes - timedelta(minutes=1) < reservation.expires_at <= in_15_minutes
    assert f'name="cancel-reservation-reservation" value="{reservation.pk}"' in page.content.decode()
    history = page.content.decode().split('id="history"')[1]  # in the same words as a 1.6 reservation's
    assert "<dt>Connector</dt><dd>2</dd>" in history and "<dt>idTag › idTag</dt><dd>DRIVER-1</dd>" in history


def test_it_marks_a_reservation_a_201_charger_refused_failed(remote_csms, operator):
    register_charger("CP-201")

    async def occupied(cp):
        cp.answers["ReserveNow"] = {"status": "Occupied"}

    page, _ = operate201(
        remote_csms, operator, "reserve", {"connector": "0", "id_tag": "DRIVER-1", "minutes": "15"}, occupied
    )

    assert Reservation.objects.get().status == "failed"
    assert messages_of(page) == ["Reserve a connector: rejected (Occupied)"]


def test_it_sends_the_cards_as_a_201_local_list_a_card_short_of_credit_as_no_credit(remote_csms, operator):
    register_charger("CP-201")
    default_tariff(min_balance_to_start="5.00")
    personal_card("HOME-1")
    prepaid_card("POOR-1", balance="1.00")
    IdTag.objects.filter(pk=personal_card("GONE-1").pk).update(status=IdTag.Status.BLOCKED)

    async def reports_version_3(cp):
        await orm(lambda: browser(operator).post("/chargers/CP-201/operate/local-list-version/"))

    _page, received = operate201(remote_csms, operator, "send-local-list", {}, before=reports_version_3)

    (_, asked), (action, payload) = received
    assert action == "SendLocalList"
    assert (payload["versionNumber"], payload["updateType"]) == (4, "Full")  # after the version it reported
    assert sorted(payload["localAuthorizationList"], key=lambda entry: entry["idToken"]["idToken"]) == [
        {"idToken": {"idToken": "GONE-1", "type": "ISO14443"}, "idTokenInfo": {"status": "Blocked"}},
        {"idToken": {"idToken": "HOME-1", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}},
        {"idToken": {"idToken": "POOR-1", "type": "ISO14443"}, "idTokenInfo": {"status": "NoCredit"}},
    ]


def test_it_reads_and_changes_201_variables_from_the_page_and_shows_the_device_model(remote_csms, operator):
    charger = register_charger("CP-201")

    read, _ = operate201(
        remote_csms, operator, "get-configuration", {"keys": "OCPPCommCtrlr.HeartbeatInterval"}
    )
    changed, _ = operate201(
        remote_csms,
        operator,
        "change-configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
    )

    assert '<td>HeartbeatInterval</td><td class="wrap">300</td>' in read.content.decode()
    assert DeviceModelVariable.objects.get(charger=charger, variable="HeartbeatInterval").value == "60"
    html = changed.content.decode()
    assert 'id="device-model-section"' in html and 'id="configuration-section"' not in html
    assert messages_of(changed) == ["Change configuration: accepted"]


def test_it_reads_the_whole_device_model_when_no_variable_is_named(remote_csms, operator):
    register_charger("CP-201")

    page, received = operate201(remote_csms, operator, "get-configuration", {"keys": ""})

    command = Command.objects.get()
    assert received == [("GetBaseReport", {"reportBase": "FullInventory", "requestId": command.pk})]
    assert messages_of(page) == ["Read configuration: accepted"]


@pytest.mark.parametrize(
    "operation,data,error",
    [
        ("get-configuration", {"keys": "HeartbeatInterval"}, "Write each variable as Component.Variable"),
        (
            "change-configuration",
            {"key": "SecurityCtrlr.BasicAuthPassword", "value": "a-new-password-of-20"},
            "The charger&#x27;s password is not changed here",
        ),
    ],
)
def test_it_shows_a_201_form_typed_wrong_again_and_sends_nothing(db, operator, operation, data, error):
    register_charger("CP-201", ocpp_version="2.0.1")

    form = {f"{operation}-{field}": value for field, value in data.items()}
    page = browser(operator).post(f"/chargers/CP-201/operate/{operation}/", form)

    assert page.status_code == 400
    assert error in section_of(page.content.decode(), "configuration")
    assert not Command.objects.exists()


def test_it_follows_a_201_log_upload_by_its_request_id(remote_csms, operator):
    register_charger("CP-201")

    async def upload_reported(cp):
        command_id = cp.calls_of("GetLog")[0]["requestId"]
        await cp.send(call.LogStatusNotification(status="Uploaded", request_id=command_id))
        return command_id

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-201", cls=AnsweringCharger201) as cp:
            form = {"get-log-log_type": "DiagnosticsLog", "get-log-location": "ftp://logs.example/"}
            await orm(lambda: browser(operator).post("/chargers/CP-201/operate/get-log/", form))
            return await upload_reported(cp)

    command_id = asyncio.run(scenario())

    command = Command.objects.get()
    assert (command.pk, command.progress) == (command_id, "Uploaded")
    assert command.charger.diagnostics_status == "Uploaded"


@pytest.mark.parametrize(
    "admin_action,action,payload,action_16,payload_16",
    [
        ("reset_soft", "Reset", {"type": "OnIdle"}, "Reset", {"type": "Soft"}),
        ("clear_cache", "ClearCache", {}, "ClearCache", {}),
        (
            "get_configuration",
            "GetBaseReport",
            {"reportBase": "FullInventory", "requestId": ANY},
            "GetConfiguration",
            {},
        ),
        (
            "trigger_status",
            "TriggerMessage",
            {"requestedMessage": "StatusNotification"},
            "TriggerMessage",
            {"requestedMessage": "StatusNotification"},
        ),
    ],
)
def test_it_runs_the_admins_charger_actions_on_a_201_and_a_16_charger_alike(
    remote_csms, operator, admin_action, action, payload, action_16, payload_16
):
    modern, old = register_charger("CP-201"), register_charger("CP-16", ocpp_version="1.6")

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-201", cls=AnsweringCharger201) as cp:
            page = await orm(run_action, operator, admin_action, [modern, old])
            return page, cp.received

    page, received = asyncio.run(scenario())

    assert received == [(action, payload)]
    assert sorted(messages_of(page)) == [
        f"CP-16: {action_16} charger offline: the charger is not connected",
        f"CP-201: {action} accepted",
    ]
    assert Command.objects.values_list("action", "payload").get(charger=old) == (action_16, payload_16)


def test_it_puts_a_201_profile_a_charger_would_refuse_on_the_limit_forms_fields(db, operator):
    register_charger("CP-201", ocpp_version="2.0.1")
    form = {"limit-connector": "1", "limit-limit": "11", "limit-unit": "kW", "limit-transaction": "tx-gone"}

    page = browser(operator).post("/chargers/CP-201/operate/limit/", form)

    assert page.status_code == 400
    assert "no transaction tx-gone is running on connector 1" in section_of(page.content.decode(), "power")
    assert not Command.objects.exists()
