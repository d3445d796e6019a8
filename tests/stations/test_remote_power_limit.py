"""'Limit this charger to N kW or N A' becomes a schema-valid SetChargingProfile, starting now (Absolute, with
its startSchedule, as OCTT TC_056 expects); 'limit this session' a TxProfile naming its transaction."""

import asyncio
from decimal import Decimal

import pytest

from stations import commands, payloads
from stations.forms import PowerLimitForm
from stations.models import Command
from stations.ocpp_schemas import call_schema_errors
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm

NOW = "2026-11-21T09:30:00Z"


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_it_limits_the_whole_charger_in_watts_for_a_kw_limit(frozen):
    payload = payloads.power_limit_payload(connector_id=0, limit=Decimal("7.4"), unit="kW")

    assert payload == {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 900,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}],
                "startSchedule": "2026-11-21T09:30:00.000Z",
            },
        },
    }
    assert call_schema_errors("SetChargingProfile", payload) == {}


def test_it_limits_one_running_session_with_a_tx_profile_naming_it(frozen):
    payload = payloads.power_limit_payload(connector_id=2, limit=Decimal("16"), unit="A", transaction_id=41)

    assert payload == {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfileId": 802,
            "transactionId": 41,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                "startSchedule": "2026-11-21T09:30:00.000Z",
            },
        },
    }
    assert call_schema_errors("SetChargingProfile", payload) == {}


@pytest.mark.parametrize(
    "limit,unit,rate_unit,sent",
    [
        ("16", "A", "A", 16),
        ("16.25", "A", "A", 16.2),
        ("10.3", "A", "A", 10.3),
        ("3.68", "kW", "W", 3680),
        ("0.00005", "kW", "W", 0),
        ("22.22229", "kW", "W", 22222.2),
    ],
)
def test_it_sends_a_connector_limit_with_at_most_one_decimal_rounded_down(
    frozen, limit, unit, rate_unit, sent
):
    payload = payloads.power_limit_payload(connector_id=2, limit=Decimal(limit), unit=unit)

    profile = payload["csChargingProfiles"]
    assert (profile["chargingProfilePurpose"], profile["chargingProfileId"]) == ("TxDefaultProfile", 902)
    assert profile["chargingSchedule"] == {
        "chargingRateUnit": rate_unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": sent}],
        "startSchedule": "2026-11-21T09:30:00.000Z",
    }
    assert call_schema_errors("SetChargingProfile", payload) == {}


def test_it_shows_the_schema_would_refuse_two_decimals():
    payload = payloads.power_limit_payload(connector_id=1, limit=Decimal("16"), unit="A")
    payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 16.25

    assert list(call_schema_errors("SetChargingProfile", payload)) == [
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod.0.limit"
    ]


def test_it_limits_a_live_charger_from_the_form(remote_csms, operator, frozen):
    charger = register_charger("CP-1")
    form = PowerLimitForm({"limit-connector": "1", "limit-limit": "11", "limit-unit": "kW"}, prefix="limit")
    assert form.is_valid(), form.errors

    async def scenario():
        async with connected_charger(remote_csms.ws_url, "CP-1", cls=AnsweringCharger) as cp:
            await cp.boot()
            command = await orm(
                commands.send,
                charger=charger,
                action=form.action,
                payload=form.payload(charger),
                user=operator,
                source="web",
            )
            return command, cp.calls_of("SetChargingProfile")

    command, received = asyncio.run(scenario())

    assert command.status == Command.Status.ACCEPTED
    assert received == [payloads.power_limit_payload(connector_id=1, limit=Decimal(11), unit="kW")]
    assert received[0]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11000}
    ]
