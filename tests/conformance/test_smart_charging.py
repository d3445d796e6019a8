"""OCTT 1.6, central system: Smart Charging profile. The case's exact profiles go through the commands
API; the page's "limit to N kW or A" builds the same kinds (a connector's TxDefaultProfile from now on, or a
running session's TxProfile); the remote start with a limit, the composite schedule and removing the page's
limit go through the charger page. A profile a charger would refuse is refused before anything is sent."""

from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v16 import call
from rest_framework.test import APIClient

from rfid.models import IdTag
from stations.models import Command
from stations.ocpp_time import utc_iso
from tests.conformance.kit import CONNECTOR, as_charger, command_api, message_of, operate, status
from tests.factories import register_charger
from tests.ocpp_client import orm


def profile(purpose: str, **fields) -> dict:
    """The OCTT's profile: Absolute, valid from now for a day, 6 A from the start for an hour."""
    now = timezone.now()
    return {
        "chargingProfileId": 11,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "validFrom": utc_iso(now),
        "validTo": utc_iso(now + timedelta(days=1)),
        "chargingSchedule": {
            "duration": 3600,
            "startSchedule": utc_iso(now),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}],
        },
        **fields,
    }


def test_it_sets_a_default_profile_for_new_transactions(remote_csms, operator):
    """TC_056_CSMS Central Smart Charging – TxDefaultProfile: SetChargingProfile.req on the connector,
    TxDefaultProfile, Absolute with validFrom, validTo and startSchedule, no transactionId nor
    recurrencyKind, 6 A; Accepted."""
    register_charger("CP-1")
    default = profile("TxDefaultProfile")

    async def scenario(cp):
        shown = await command_api(
            operator, "CP-1", "SetChargingProfile", {"connectorId": CONNECTOR, "csChargingProfiles": default}
        )
        return shown, cp.calls_of("SetChargingProfile")

    shown, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"connectorId": CONNECTOR, "csChargingProfiles": default}]
    assert (
        "transactionId" not in sent[0]["csChargingProfiles"]
        and "recurrencyKind" not in sent[0]["csChargingProfiles"]
    )
    assert shown["status"] == "accepted"


def test_it_sets_a_profile_for_the_running_transaction(remote_csms, operator):
    """TC_057_CSMS Central Smart Charging – TxProfile: during a Charging session, SetChargingProfile.req
    with TxProfile naming that transactionId; Accepted."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        running = profile("TxProfile", transactionId=started.transaction_id)
        shown = await command_api(
            operator, "CP-1", "SetChargingProfile", {"connectorId": CONNECTOR, "csChargingProfiles": running}
        )
        return started, shown, cp.calls_of("SetChargingProfile")

    started, shown, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent[0]["csChargingProfiles"]["transactionId"] == started.transaction_id
    assert sent[0]["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
    assert shown["status"] == "accepted"


def test_it_limits_a_connector_from_the_page_with_a_default_profile_starting_now(
    remote_csms, operator, time_machine
):
    """TC_056_CSMS from the page: "limit power" on a connector is a TxDefaultProfile, Absolute with its
    startSchedule (now), no transactionId nor recurrencyKind, whole periods from 0; Accepted."""
    register_charger("CP-1")
    time_machine.move_to("2026-11-21T09:30:00Z", tick=False)

    async def scenario(cp):
        page = await operate(operator, "CP-1", "limit", connector=CONNECTOR, limit="6", unit="A")
        return page, cp.calls_of("SetChargingProfile")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [
        {
            "connectorId": CONNECTOR,
            "csChargingProfiles": {
                "chargingProfileId": 901,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "startSchedule": "2026-11-21T09:30:00.000Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
                },
            },
        }
    ]
    assert message_of(page) == "Limit power: accepted"


def test_it_limits_the_running_session_from_the_page(remote_csms, operator):
    """TC_057_CSMS from the page: "limit power" naming the running session's transaction id sends a TxProfile
    with that transactionId on its connector; Accepted."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        await status(cp, "Charging")
        page = await operate(
            operator,
            "CP-1",
            "limit",
            connector=CONNECTOR,
            limit="11",
            unit="kW",
            transaction=started.transaction_id,
        )
        return started, page, cp.calls_of("SetChargingProfile")

    started, page, sent = as_charger(remote_csms, "CP-1", scenario)

    profile = sent[0]["csChargingProfiles"]
    assert sent[0]["connectorId"] == CONNECTOR
    assert (profile["chargingProfilePurpose"], profile["transactionId"]) == (
        "TxProfile",
        started.transaction_id,
    )
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 11000}]
    assert message_of(page) == "Limit power: accepted"


def api_refusal(user, charge_point_id: str, action: str, payload: dict):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(
        f"/api/v1/chargers/{charge_point_id}/commands/", {"action": action, "payload": payload}, format="json"
    )


@pytest.mark.parametrize(
    "case",
    ["on connector 0", "not running", "stopped", "on another connector", "remote start not a TxProfile"],
)
def test_it_refuses_a_profile_the_charger_would_refuse_before_sending_it(remote_csms, operator, case):
    """A TxProfile belongs to a session running on a connector: on connector 0, or naming a transaction that
    is not running there (never was, stopped, or on another connector), the API answers 400 naming the field
    and nothing reaches the charger; so for a remote start whose profile is not a TxProfile (OCPP 1.6 §5.11)."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        running = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        stopped = await cp.start_transaction(connector_id=2, id_tag="DRIVER-1")
        await cp.stop_transaction(stopped.transaction_id, meter_stop=100)
        action, payload, field = {
            "on connector 0": (
                "SetChargingProfile",
                {"connectorId": 0, "csChargingProfiles": profile("TxProfile")},
                "connectorId",
            ),
            "not running": (
                "SetChargingProfile",
                {"connectorId": CONNECTOR, "csChargingProfiles": profile("TxProfile", transactionId=999999)},
                "csChargingProfiles.transactionId",
            ),
            "stopped": (
                "SetChargingProfile",
                {
                    "connectorId": 2,
                    "csChargingProfiles": profile("TxProfile", transactionId=stopped.transaction_id),
                },
                "csChargingProfiles.transactionId",
            ),
            "on another connector": (
                "SetChargingProfile",
                {
                    "connectorId": 2,
                    "csChargingProfiles": profile("TxProfile", transactionId=running.transaction_id),
                },
                "csChargingProfiles.transactionId",
            ),
            "remote start not a TxProfile": (
                "RemoteStartTransaction",
                {"connectorId": 2, "idTag": "DRIVER-1", "chargingProfile": profile("TxDefaultProfile")},
                "chargingProfile.chargingProfilePurpose",
            ),
        }[case]
        answer = await orm(api_refusal, operator, "CP-1", action, payload)
        await cp.send(call.Heartbeat())  # anything sent would have reached the charger before this answer
        return answer, field, cp.received

    answer, field, received = as_charger(remote_csms, "CP-1", scenario)

    assert answer.status_code == 400
    assert list(answer.json()["payload"]) == [field]
    assert received == [] and not Command.objects.exists()


@pytest.mark.parametrize(
    "connector,transaction,field",
    [(0, "running", "connector"), (CONNECTOR, 999999, "transaction")],
    ids=["tx-profile-on-connector-0", "transaction-not-running"],
)
def test_it_shows_the_refused_session_limit_on_the_pages_field(
    remote_csms, operator, connector, transaction, field
):
    """The page's session limit is checked as the API's: a form error on the field to change, the typed
    values kept, nothing sent."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        named = started.transaction_id if transaction == "running" else transaction
        page = await operate(
            operator, "CP-1", "limit", connector=connector, limit="11", unit="kW", transaction=named
        )
        await cp.send(call.Heartbeat())
        return page, cp.received

    page, received = as_charger(remote_csms, "CP-1", scenario)

    form = next(
        dict(group["forms"])["limit"] for group in page.context["operation_groups"] if group["key"] == "power"
    )
    assert page.status_code == 400 and list(form.errors) == [field]
    assert form["limit"].value() == "11"
    assert received == [] and not Command.objects.exists()


def test_it_starts_remotely_with_a_charging_profile(remote_csms, operator):
    """TC_059_CSMS Remote Start Transaction with Charging Profile: the page's start with a limit sends a
    TxProfile without transactionId whose first period starts at 0; the session then runs as usual."""
    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    async def scenario(cp):
        page = await operate(
            operator, "CP-1", "remote-start", connector=CONNECTOR, id_tag="DRIVER-1", limit="6", unit="A"
        )
        await status(cp, "Preparing")
        started = await cp.start_transaction(connector_id=CONNECTOR, id_tag="DRIVER-1")
        return page, cp.calls_of("RemoteStartTransaction"), started

    page, sent, started = as_charger(remote_csms, "CP-1", scenario)

    charging_profile = sent[0]["chargingProfile"]
    assert (
        charging_profile["chargingProfilePurpose"] == "TxProfile" and "transactionId" not in charging_profile
    )
    assert charging_profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6}]
    assert message_of(page) == "Start charging: accepted"
    assert started.id_tag_info["status"] == "Accepted"


def test_it_reads_the_composite_schedule(remote_csms, operator):
    """TC_066_CSMS Get Composite Schedule: GetCompositeSchedule.req with connectorId and duration from the
    page; the charger's schedule is kept with the command."""
    register_charger("CP-1")

    async def scenario(cp):
        page = await operate(operator, "CP-1", "composite-schedule", connector=CONNECTOR, duration=300)
        return page, cp.calls_of("GetCompositeSchedule")

    page, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [{"connectorId": CONNECTOR, "duration": 300}]
    assert message_of(page) == "Read the charging schedule: accepted"
    kept = Command.objects.get().response
    assert kept["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0}]


@pytest.mark.parametrize(
    "how,payload",
    [
        ("by id", {"id": 11}),
        (
            "by criteria",
            {"connectorId": CONNECTOR, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0},
        ),
        ("all", {}),
    ],
)
def test_it_clears_charging_profiles(remote_csms, operator, how, payload):
    """TC_067_CSMS Clear Charging Profile: by id only, by connectorId, purpose and stackLevel (no id), and
    everything (an empty request); each Accepted. Only the fields asked are sent."""
    register_charger("CP-1")

    async def scenario(cp):
        shown = await command_api(operator, "CP-1", "ClearChargingProfile", payload)
        return shown, cp.calls_of("ClearChargingProfile")

    shown, sent = as_charger(remote_csms, "CP-1", scenario)

    assert sent == [payload]
    assert shown["status"] == "accepted"


def test_it_removes_the_pages_own_limit_by_its_id(remote_csms, operator):
    """TC_067_CSMS, from the page: "remove limit" clears exactly the profile "limit power" set."""
    register_charger("CP-1")

    async def scenario(cp):
        await operate(operator, "CP-1", "limit", connector=CONNECTOR, limit="11", unit="kW")
        page = await operate(operator, "CP-1", "clear-limit", connector=CONNECTOR)
        return page, cp.calls_of("SetChargingProfile"), cp.calls_of("ClearChargingProfile")

    page, set_, cleared = as_charger(remote_csms, "CP-1", scenario)

    assert cleared == [{"id": set_[0]["csChargingProfiles"]["chargingProfileId"]}]
    assert message_of(page) == "Remove power limit: accepted"
