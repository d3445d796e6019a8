"""A simulated charger's answers to CSMS commands, through the ocpp library's routing
of its charge point (a fake connection: no sockets): configuration, smart charging,
remote start, reservations and the rest."""

from tests.stations.simulator.builders import ask


def test_it_answers_configuration_requests():
    charger, (everything, some, heartbeat, reboot, readonly, unknown) = ask(
        [
            ("GetConfiguration", {}),
            ("GetConfiguration", {"key": ["NumberOfConnectors", "Nope"]}),
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}),
            ("ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}),
            ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}),
            ("ChangeConfiguration", {"key": "Nope", "value": "1"}),
        ],
        connectors=3,
    )
    keys = {entry["key"] for entry in everything["configurationKey"]}
    assert {"HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors"} <= keys
    assert some == {
        "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "3"}],
        "unknownKey": ["Nope"],
    }
    assert [heartbeat, reboot, readonly, unknown] == [
        {"status": "Accepted"},
        {"status": "RebootRequired"},
        {"status": "Rejected"},
        {"status": "NotSupported"},
    ]
    assert charger.state.heartbeat_interval == 120


def test_it_applies_charging_profiles_and_reports_the_composite_schedule():
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3700.0}],
        },
    }
    charger, (applied, schedule, cleared, unknown) = ask(
        [
            ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}),
            ("GetCompositeSchedule", {"connectorId": 1, "duration": 600}),
            ("ClearChargingProfile", {}),
            ("GetCompositeSchedule", {"connectorId": 9, "duration": 600}),
        ]
    )
    assert applied == {"status": "Accepted"}
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3700.0}]
    assert cleared == {"status": "Accepted"} and unknown == {"status": "Rejected"}
    assert charger.state.connectors[0].limit_w is None


def test_it_claims_a_connector_for_remote_start_and_rejects_a_second_one():
    charger, answers = ask(
        [
            ("RemoteStartTransaction", {"idTag": "APP1", "connectorId": 1}),
            ("RemoteStartTransaction", {"idTag": "APP2", "connectorId": 1}),
            ("RemoteStopTransaction", {"transactionId": 12345}),
            (
                "ReserveNow",
                {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R", "reservationId": 5},
            ),
            (
                "ReserveNow",
                {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "R", "reservationId": 6},
            ),
            (
                "ReserveNow",
                {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "Q", "reservationId": 7},
            ),
            ("CancelReservation", {"reservationId": 6}),
            ("CancelReservation", {"reservationId": 6}),
        ]
    )
    assert [a["status"] for a in answers] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "Occupied",
        "Accepted",
        "Occupied",
        "Accepted",
        "Rejected",
    ]
    assert charger.stats.commands["RemoteStartTransaction"] == 2


def test_it_answers_the_remaining_commands_sensibly():
    _charger, answers = ask(
        [
            ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 7}),
            ("UnlockConnector", {"connectorId": 1}),
            ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
            ("ClearCache", {}),
            ("DataTransfer", {"vendorId": "someone"}),
            ("SendLocalList", {"listVersion": 3, "updateType": "Full"}),
            ("GetLocalListVersion", {}),
            ("GetDiagnostics", {"location": "ftp://example/"}),
            ("UpdateFirmware", {"location": "https://example/fw", "retrieveDate": "2024-01-01T00:00:00Z"}),
            ("Reset", {"type": "Soft"}),
        ]
    )
    assert answers == [
        {"status": "Rejected"},
        {"status": "Unlocked"},
        {"status": "Accepted"},
        {"status": "Accepted"},
        {"status": "UnknownVendorId"},
        {"status": "Accepted"},
        {"listVersion": 3},
        {"fileName": "diagnostics-SIM-00001.log"},
        {},
        {"status": "Accepted"},
    ]
