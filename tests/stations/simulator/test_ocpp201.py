"""A simulated OCPP 2.0.1 charger: what it puts on the wire (schema-clean against the official 2.0.1
schemas), its sessions as TransactionEvents numbered by seqNo, the offline queue replayed with
offline: true and the original seqNos, and its answers to the CSMS's 2.0.1 commands."""

import asyncio
from types import SimpleNamespace

import pytest
from ocpp.v201 import call

from stations.simulator import messages as msg
from stations.simulator import messages201
from stations.simulator.charger import SimulatedCharger
from stations.simulator.link import Uplink
from stations.simulator.stats import FleetStats
from tests.stations.simulator.builders import ask, assert_schema_valid, options, sample

EXPIRY = "2099-01-01T00:00:00Z"


def charger_201(**overrides) -> SimulatedCharger:
    return SimulatedCharger(0, options(protocol="ocpp2.0.1", **overrides), FleetStats(chargers=1))


class RecordingCsms:
    """Stands in for the socket behind a charger's uplink: keeps each CALL, answers a card Accepted."""

    def __init__(self, monkeypatch):
        self.sent = []
        monkeypatch.setattr(Uplink, "call", self.call)

    async def call(self, link, request):
        self.sent.append(request)
        return SimpleNamespace(id_token_info={"status": "Accepted"})


def online(uplink: Uplink) -> None:
    uplink.link = SimpleNamespace(accepted=True)


# -- the wire ------------------------------------------------------------------


def test_it_picks_each_chargers_protocol_half_and_half_in_a_mixed_fleet():
    mixed = options(protocol="mixed", chargers=5)
    assert [mixed.protocol_for(index) for index in range(5)] == [
        "ocpp1.6",
        "ocpp2.0.1",
        "ocpp1.6",
        "ocpp2.0.1",
        "ocpp1.6",
    ]
    assert {options(protocol="ocpp2.0.1").protocol_for(index) for index in range(4)} == {"ocpp2.0.1"}
    with pytest.raises(ValueError, match="protocol must be one of"):
        options(protocol="ocpp2.1")


def test_it_builds_schema_valid_201_messages_without_nulls():
    boot = assert_schema_valid(messages201.boot_notification("SimBox AC11", "SIMSN1", "1.4.2-sim", "PowerUp"))
    assert boot == {
        "chargingStation": {
            "model": "SimBox AC11",
            "vendorName": msg.VENDOR,
            "serialNumber": "SIMSN1",
            "firmwareVersion": "1.4.2-sim",
        },
        "reason": "PowerUp",
    }
    status = assert_schema_valid(messages201.status_notification(2, "Charging"))
    assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (2, 1, "Occupied")
    meter = assert_schema_valid(messages201.meter_values(1, sample(energy_wh=1234)))
    energy = meter["meterValue"][0]["sampledValue"][0]
    assert energy == {
        "value": 1234,
        "context": "Trigger",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unitOfMeasure": {"unit": "Wh"},
    }
    assert "SoC" not in str(assert_schema_valid(messages201.meter_values(1, sample(soc=None))))
    report = call.NotifyReport(
        request_id=1,
        generated_at="2024-05-01T12:00:00.000Z",
        seq_no=0,
        report_data=messages201.report_data(charger_201().reactions.configuration()),
    )
    variables = {item["variable"]["name"]: item for item in assert_schema_valid(report)["reportData"]}
    assert variables["HeartbeatInterval"]["variableAttribute"] == [
        {"value": "300", "mutability": "ReadWrite"}
    ]
    assert variables["BasicAuthPassword"]["variableAttribute"] == [{"mutability": "WriteOnly"}]


def test_it_runs_a_session_as_transaction_events_numbered_from_zero(monkeypatch):
    csms = RecordingCsms(monkeypatch)

    async def scenario():
        charger = charger_201()
        online(charger.uplink)
        sessions, connector = charger.sessions, charger.state.connectors[1]
        session = sessions.claim(connector, "SIM-00001-2")
        await sessions._start_transaction(connector, session)
        build = charger.protocol.transaction_meter_values(
            session, sample(energy_wh=session.meter_start_wh + 50)
        )
        await charger.uplink.send_transaction_message(msg.METER_VALUES, build, session)
        session.request_stop("Local")
        await sessions._stop_transaction(connector, session)
        return session

    session = asyncio.run(scenario())

    payloads = [assert_schema_valid(request) for request in csms.sent]
    assert [(p["eventType"], p["seqNo"], p["triggerReason"]) for p in payloads] == [
        ("Started", 0, "Authorized"),
        ("Updated", 1, "MeterValuePeriodic"),
        ("Ended", 2, "StopAuthorized"),
    ]
    assert {p["transactionInfo"]["transactionId"] for p in payloads} == {session.transaction_id}
    assert len(session.transaction_id) == 36  # a UUID: unique across runs, as the CSMS keeps each once
    assert all(p["evse"] == {"id": 2, "connectorId": 1} and "offline" not in p for p in payloads)
    started, ended = payloads[0], payloads[2]
    assert started["idToken"] == {"idToken": "SIM-00001-2", "type": "ISO14443"}
    begin = started["meterValue"][0]["sampledValue"][0]
    assert (begin["context"], begin["value"]) == ("Transaction.Begin", session.meter_start_wh)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"


def test_it_replays_events_produced_offline_with_offline_true_and_their_original_seq_nos(monkeypatch):
    csms = RecordingCsms(monkeypatch)

    async def scenario():
        charger = charger_201()
        uplink, protocol = charger.uplink, charger.protocol
        online(uplink)
        session = charger.sessions.claim(charger.state.connectors[0], "SIM-00001-1")
        await charger.sessions._start_transaction(charger.state.connectors[0], session)
        uplink.link = None  # the connection drops: the next events wait in the queue
        for energy_wh in (10, 20):
            build = protocol.transaction_meter_values(session, sample(energy_wh=energy_wh))
            await uplink.send_transaction_message(msg.METER_VALUES, build, session)
        session.request_stop("EVDisconnected")
        await uplink.send_transaction_message(
            msg.STOP, protocol.stop_transaction(session, sample(30)), session
        )
        sent_while_offline = len(csms.sent)
        online(uplink)  # booted again: the queue goes first
        await uplink.replay(uplink.link)
        return sent_while_offline, len(uplink.queue), charger.stats

    sent_while_offline, left, stats = asyncio.run(scenario())

    payloads = [assert_schema_valid(request) for request in csms.sent]
    assert (sent_while_offline, left) == (1, 0)
    assert [(p["eventType"], p["seqNo"], p.get("offline")) for p in payloads] == [
        ("Started", 0, None),
        ("Updated", 1, True),
        ("Updated", 2, True),
        ("Ended", 3, True),
    ]
    assert [p["meterValue"][0]["sampledValue"][0]["value"] for p in payloads[1:]] == [10, 20, 30]
    assert payloads[3]["triggerReason"] == "EVCommunicationLost"
    assert stats.replayed["TransactionEvent"] == 3


# -- answers to the CSMS's 2.0.1 commands -------------------------------------------

HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
PING = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "WebSocketPingInterval"}}
UPDATED_INTERVAL = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
PASSWORD = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
NO_SUCH_VARIABLE = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}}
NO_SUCH_COMPONENT = {"component": {"name": "Nope"}, "variable": {"name": "Nope"}}


def test_it_starts_stops_and_unlocks_as_a_201_charger():
    charger, answers = ask(
        [
            (
                "RequestStartTransaction",
                {"idToken": {"idToken": "PAY-1", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
            ),
            (
                "RequestStartTransaction",
                {"idToken": {"idToken": "PAY-2", "type": "Central"}, "remoteStartId": 8, "evseId": 1},
            ),
            ("RequestStopTransaction", {"transactionId": "not-ours"}),
            ("UnlockConnector", {"evseId": 1, "connectorId": 1}),
            ("UnlockConnector", {"evseId": 2, "connectorId": 1}),
            ("UnlockConnector", {"evseId": 9, "connectorId": 1}),
            ("Reset", {"type": "OnIdle"}),
            ("Reset", {"type": "Immediate", "evseId": 1}),
        ],
        protocol="ocpp2.0.1",
    )

    assert [answer["status"] for answer in answers] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "OngoingAuthorizedTransaction",
        "Unlocked",
        "UnknownConnector",
        "Scheduled",
        "Rejected",
    ]
    session = charger.state.connectors[0].session
    assert (session.id_tag, session.remote_start_id, session.id_token_type) == ("PAY-1", 7, "Central")


def test_it_reads_and_sets_its_variables_as_the_configuration_they_stand_for():
    charger, (read, written, report) = ask(
        [
            ("GetVariables", {"getVariableData": [HEARTBEAT, PASSWORD, NO_SUCH_VARIABLE, NO_SUCH_COMPONENT]}),
            (
                "SetVariables",
                {
                    "setVariableData": [
                        {"attributeValue": "120", **HEARTBEAT},
                        {"attributeValue": "soon", **UPDATED_INTERVAL},
                        {"attributeValue": "30", **PING},
                        {"attributeValue": "1", **NO_SUCH_COMPONENT},
                    ]
                },
            ),
            ("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}),
        ],
        protocol="ocpp2.0.1",
    )

    assert read["getVariableResult"][0] == {
        "attributeStatus": "Accepted",
        "attributeValue": "300",
        **HEARTBEAT,
    }
    assert [result["attributeStatus"] for result in read["getVariableResult"][1:]] == [
        "Rejected",  # write-only
        "UnknownVariable",
        "UnknownComponent",
    ]
    assert [result["attributeStatus"] for result in written["setVariableResult"]] == [
        "Accepted",
        "Rejected",
        "RebootRequired",
        "UnknownComponent",
    ]
    assert charger.state.heartbeat_interval == 120 and report == {"status": "Accepted"}


def test_it_answers_the_remaining_201_commands_sensibly():
    profile = {
        "id": 901,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3700.0}],
            }
        ],
    }
    reservation = {"id": 5, "expiryDateTime": EXPIRY, "idToken": {"idToken": "R", "type": "ISO14443"}}
    charger, answers = ask(
        [
            ("SetChargingProfile", {"evseId": 1, "chargingProfile": profile}),
            ("GetCompositeSchedule", {"duration": 600, "evseId": 1}),
            ("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 1}}),
            ("GetCompositeSchedule", {"duration": 600, "evseId": 9}),
            ("ReserveNow", reservation),
            ("CancelReservation", {"reservationId": 5}),
            ("CancelReservation", {"reservationId": 5}),
            ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}),
            ("TriggerMessage", {"requestedMessage": "TransactionEvent"}),
            ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 7}}),
            ("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}),
            ("ClearCache", {}),
            ("SendLocalList", {"versionNumber": 3, "updateType": "Full"}),
            ("GetLocalListVersion", {}),
            (
                "UpdateFirmware",
                {"requestId": 2, "firmware": {"location": "https://fw/", "retrieveDateTime": EXPIRY}},
            ),
            ("GetLog", {"logType": "DiagnosticsLog", "requestId": 3, "log": {"remoteLocation": "ftp://l/"}}),
            ("DataTransfer", {"vendorId": "someone"}),
        ],
        protocol="ocpp2.0.1",
    )

    assert answers[0] == {"status": "Accepted"}
    schedule = answers[1]["schedule"]
    assert (schedule["evseId"], schedule["chargingRateUnit"], schedule["chargingSchedulePeriod"]) == (
        1,
        "W",
        [{"startPeriod": 0, "limit": 3700.0}],
    )
    assert answers[2:] == [
        {"status": "Accepted"},
        {"status": "Rejected"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "Rejected"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "Rejected"},
        {"status": "NotImplemented"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"versionNumber": 3},
        {"status": "Accepted"},
        {"status": "Accepted", "filename": "log-SIM-00001.zip"},
        {"status": "UnknownVendorId"},
    ]
    assert charger.state.connectors[0].limit_w is None and not charger.state.connectors[1].available
