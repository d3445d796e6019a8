"""A simulated OCPP 2.0.1 charger reports its charging profiles when asked (GetChargingProfiles, then
ReportChargingProfiles by the requestId) and says so when a reservation expires (ReservationStatusUpdate),
each schema-clean against the official 2.0.1 schemas; a 1.6 charger lets a reservation go silently."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from stations.ocpp_time import utc_iso
from stations.simulator.charger import SimulatedCharger
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import FakeConnection, assert_schema_valid, options
from tests.stations.simulator.test_ocpp201 import RecordingCsms, online

LIMIT_16_A = {
    "id": 901,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}
    ],
}


def in_a_moment() -> str:
    return utc_iso(datetime.now(UTC) + timedelta(milliseconds=300))


def commanded(protocol: str, commands: list, settle=lambda charger: asyncio.sleep(0.05)):
    """A charger online, sent `commands` (action, payload); (its answers, what it sent the CSMS after)."""

    async def scenario():
        charger = SimulatedCharger(0, options(protocol=protocol), FleetStats(chargers=1))
        online(charger.uplink)
        connection = FakeConnection()
        cp = charger.charge_point(connection)
        for number, (action, payload) in enumerate(commands):
            await cp.route_message(json.dumps([2, str(number), action, payload]))
        await settle(charger)
        await charger.tasks.cancel()
        return [reply[2] for reply in connection.sent]

    return asyncio.run(scenario())


def test_it_reports_the_limits_it_was_set_as_charging_profiles_by_the_request_id(monkeypatch):
    csms = RecordingCsms(monkeypatch)

    answers = commanded(
        "ocpp2.0.1",
        [
            ("SetChargingProfile", {"evseId": 1, "chargingProfile": LIMIT_16_A}),
            ("GetChargingProfiles", {"requestId": 7, "chargingProfile": {}}),
            ("GetChargingProfiles", {"requestId": 8, "evseId": 2, "chargingProfile": {}}),
            (
                "GetChargingProfiles",
                {"requestId": 9, "chargingProfile": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
            ),
        ],
    )

    assert answers[1:] == [{"status": "Accepted"}, {"status": "NoProfiles"}, {"status": "NoProfiles"}]
    [report] = [assert_schema_valid(request) for request in csms.sent]
    assert (report["requestId"], report["evseId"], report["tbc"]) == (7, 1, False)
    [profile] = report["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] > 0


def test_it_tells_a_201_csms_that_a_reservation_expired(monkeypatch):
    csms = RecordingCsms(monkeypatch)
    soon = {"id": 5, "expiryDateTime": in_a_moment(), "idToken": {"idToken": "R", "type": "ISO14443"}}

    async def expired(charger):
        for _ in range(100):
            if len(csms.sent) == 3:  # Reserved, Available, and the update
                return
            await asyncio.sleep(0.02)

    answers = commanded("ocpp2.0.1", [("ReserveNow", soon)], settle=expired)

    assert answers == [{"status": "Accepted"}]
    sent = [assert_schema_valid(request) for request in csms.sent]
    assert [payload.get("connectorStatus") for payload in sent[:2]] == ["Reserved", "Available"]
    assert sent[2] == {"reservationId": 5, "reservationUpdateStatus": "Expired"}


def test_it_lets_a_16_reservation_expire_without_a_word(monkeypatch):
    csms = RecordingCsms(monkeypatch)
    soon = {"connectorId": 1, "expiryDate": in_a_moment(), "idTag": "R", "reservationId": 5}

    answers = commanded("ocpp1.6", [("ReserveNow", soon)], settle=lambda charger: asyncio.sleep(0.6))

    assert answers == [{"status": "Accepted"}]
    statuses = [(type(request).__name__, request.status) for request in csms.sent]
    assert statuses == [("StatusNotification", "Reserved"), ("StatusNotification", "Available")]
