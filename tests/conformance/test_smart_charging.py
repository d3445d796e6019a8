"""OCTT 1.6, central system: Smart Charging profile. The case's exact profiles go through the commands
API (the page's "limit to N kW or A" is a shortcut that builds one kind of profile); the remote start with
a limit, the composite schedule and removing the page's limit go through the charger page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rfid.models import IdTag
from stations.models import Command
from stations.ocpp_time import utc_iso
from tests.conformance.kit import CONNECTOR, as_charger, command_api, message_of, operate, status
from tests.factories import register_charger


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
