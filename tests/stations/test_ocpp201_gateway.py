"""OCPP 2.0.1 chargers on the same /ocpp/<id> as 1.6 ones: negotiation, the messages that are not
sessions, and the framing errors in 2.0.1's words. The charger is the `ocpp` library's v201
ChargePoint over a real socket: every message is checked against the official 2.0.1 schemas both ways.
"""

import asyncio
import json
import re
from decimal import Decimal

import pytest
from ocpp.v201 import call

from rfid.models import IdTag
from stations.models import (
    Charger,
    ChargerEvent,
    Connector,
    DataTransferMessage,
    DeviceModelVariable,
    MessageLog,
    MeterValue,
    StatusNotification,
)
from tests.billing.builders import default_tariff, personal_card, prepaid_card
from tests.factories import register_charger
from tests.ocpp_client import TestCharger201, connected_charger, raw_socket, wait_until
from tests.stations.test_boot import attempt_outcomes, refused_status
from tests.stations.test_remote_pages import browser as staff_browser

STATION = {
    "vendor_name": "A vendor whose name is long",
    "model": "AC-22",
    "serial_number": "SN-201",
    "firmware_version": "2.4.1",
    "modem": {"iccid": "8931080019073497795", "imsi": "204080123456789"},
}


def connected201(csms, charge_point_id="CP-201", password=None):
    return connected_charger(csms.ws_url, charge_point_id, password, cls=TestCharger201)


def negotiated(csms, charge_point_id: str, offers: tuple) -> str:
    async def scenario():
        async with raw_socket(csms.ws_url, charge_point_id, subprotocols=offers) as ws:
            return ws.subprotocol

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("offers", "chosen", "stored"),
    [
        (("ocpp2.0.1",), "ocpp2.0.1", "2.0.1"),
        (("ocpp1.6",), "ocpp1.6", "1.6"),
        (("ocpp2.0.1", "ocpp1.6"), "ocpp2.0.1", "2.0.1"),
        (("ocpp2.1", "ocpp1.6", "ocpp2.0.1"), "ocpp1.6", "1.6"),
    ],
)
def test_it_negotiates_the_first_version_the_charger_offers_that_it_speaks(csms, offers, chosen, stored):
    register_charger("CP-201")

    assert negotiated(csms, "CP-201", offers) == chosen
    assert Charger.objects.get(charge_point_id="CP-201").ocpp_version == stored


def test_it_refuses_a_charger_offering_neither_version(csms):
    register_charger("CP-201")

    assert refused_status(csms, "CP-201", subprotocols=("ocpp2.1", "ocpp2.0")) == 403
    assert attempt_outcomes("CP-201") == ["no_subprotocol"]


def test_it_asks_a_201_charger_for_its_password_as_a_16_one(csms):
    register_charger("CP-201", password="a-charger-key-of-20ch")

    assert refused_status(csms, "CP-201", password="wrong", subprotocols=("ocpp2.0.1",)) == 403

    async def scenario():
        async with connected201(csms, password="a-charger-key-of-20ch") as cp:
            return await cp.send(call.Heartbeat())

    assert asyncio.run(scenario()).current_time.endswith("Z")
    assert attempt_outcomes("CP-201", count=2) == ["bad_password", "accepted"]


def test_it_stores_a_201_boot_with_its_reason_and_answers_heartbeats(csms):
    register_charger("CP-201")

    async def scenario():
        async with connected201(csms) as cp:
            boot = await cp.send(call.BootNotification(charging_station=STATION, reason="FirmwareUpdate"))
            beat = await cp.send(call.Heartbeat())
            return boot, beat

    boot, beat = asyncio.run(scenario())

    assert (boot.status, boot.interval) == ("Accepted", 120)
    assert beat.current_time.endswith("Z")
    charger = Charger.objects.get(charge_point_id="CP-201")
    assert (charger.vendor, charger.model, charger.serial_number) == (
        "A vendor whose name is long",
        "AC-22",
        "SN-201",
    )
    assert (charger.firmware_version, charger.iccid, charger.boot_reason) == (
        "2.4.1",
        "8931080019073497795",
        "FirmwareUpdate",
    )
    assert wait_until(lambda: Charger.objects.get(pk=charger.pk).last_heartbeat_at is not None)


def test_it_keeps_a_201_status_per_evse_as_a_16_connector(csms):
    charger = register_charger("CP-201")

    async def scenario():
        async with connected201(csms) as cp:
            for evse, connector, status in ((1, 1, "Available"), (2, 1, "Available"), (1, 1, "Occupied")):
                await cp.send(
                    call.StatusNotification(
                        timestamp="2027-03-01T08:00:00Z",
                        connector_status=status,
                        evse_id=evse,
                        connector_id=connector,
                    )
                )

    asyncio.run(scenario())

    assert wait_until(lambda: StatusNotification.objects.filter(charger=charger).count() == 3)
    assert dict(Connector.objects.filter(charger=charger).values_list("connector_id", "status")) == {
        1: "Occupied",
        2: "Available",
    }
    assert set(StatusNotification.objects.values_list("evse_connector_id", flat=True)) == {1}


def test_it_stores_201_meter_values_on_the_evse_scaled_by_their_multiplier(csms):
    charger = register_charger("CP-201")

    def sample(value, unit, multiplier, measurand):
        return {
            "value": value,
            "measurand": measurand,
            "unit_of_measure": {"unit": unit, "multiplier": multiplier},
        }

    async def scenario():
        async with connected201(csms) as cp:
            await cp.send(
                call.MeterValues(
                    evse_id=2,
                    meter_value=[
                        {
                            "timestamp": "2027-03-01T08:00:00Z",
                            "sampled_value": [
                                sample(12.5, "kWh", 0, "Energy.Active.Import.Register"),
                                sample(7.4, "W", 3, "Power.Active.Import"),
                            ],
                        }
                    ],
                )
            )

    asyncio.run(scenario())

    samples = MeterValue.objects.filter(charger=charger, connector_id=2, transaction=None)
    assert wait_until(lambda: samples.count() == 2)
    assert sorted(samples.values_list("measurand", "value", "unit", "numeric_value")) == [
        ("Energy.Active.Import.Register", "12.5", "kWh", Decimal("12.5")),
        ("Power.Active.Import", "7.4", "W", Decimal("7400")),
    ]


def test_it_answers_a_201_authorize_with_the_same_card_decisions(csms):
    register_charger("CP-201")
    default_tariff(min_balance_to_start="5.00")
    prepaid_card("RICH", balance="20.00")
    prepaid_card("POOR", balance="1.00")
    IdTag.objects.filter(pk=personal_card("HOME").pk).update(status=IdTag.Status.BLOCKED)

    async def scenario():
        async with connected201(csms) as cp:
            answers = {}
            for token in ("RICH", "rich", "POOR", "HOME", "NOBODY"):
                authorize = call.Authorize(id_token={"id_token": token, "type": "ISO14443"})
                answers[token] = (await cp.send(authorize)).id_token_info["status"]
            return answers

    assert asyncio.run(scenario()) == {
        "RICH": "Accepted",
        "rich": "Accepted",  # idTokens are case-insensitive, as 1.6 idTags
        "POOR": "NoCredit",  # 1.6 says Blocked (it has no word for it); 2.0.1 has the honest one
        "HOME": "Blocked",
        "NOBODY": "Invalid",
    }


def test_it_keeps_the_device_model_a_201_charger_reports_and_shows_it_with_the_protocol(csms, operator):
    charger = register_charger("CP-201")

    def report(request_id, interval, tbc=False):
        attributes = [{"type": "Actual", "value": interval, "mutability": "ReadWrite"}]
        return call.NotifyReport(
            request_id=request_id,
            generated_at="2027-03-01T08:00:00Z",
            seq_no=0,
            tbc=tbc,
            report_data=[
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variable_attribute": attributes,
                    "variable_characteristics": {"data_type": "integer", "supports_monitoring": False},
                },
                {
                    "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                    "variable": {"name": "ConnectorType"},
                    "variable_attribute": [{"value": "cType2", "mutability": "ReadOnly"}],
                },
            ],
        )

    async def scenario():
        async with connected201(csms) as cp:
            await cp.send(report(1, "300"))
            await cp.send(report(2, "60"))

    asyncio.run(scenario())

    rows = DeviceModelVariable.objects.filter(charger=charger)
    assert sorted(rows.values_list("component", "evse_id", "evse_connector_id", "variable", "value")) == [
        ("Connector", 1, 1, "ConnectorType", "cType2"),
        ("OCPPCommCtrlr", 0, 0, "HeartbeatInterval", "60"),
    ]
    assert rows.get(variable="HeartbeatInterval").characteristics["data_type"] == "integer"
    page = staff_browser(operator).get("/chargers/CP-201/").content.decode()
    assert re.search(r'id="protocol">OCPP 2\.0\.1<', page)
    assert re.search(
        r"<td>OCPPCommCtrlr</td><td></td><td>HeartbeatInterval</td><td class=\"wrap\">60</td>", page
    )


def test_it_keeps_events_security_events_firmware_and_log_progress_and_vendor_data(csms):
    charger = register_charger("CP-201")

    async def scenario():
        async with connected201(csms) as cp:
            await cp.send(
                call.NotifyEvent(
                    generated_at="2027-03-01T08:00:00Z",
                    seq_no=0,
                    event_data=[
                        {
                            "event_id": 7,
                            "timestamp": "2027-03-01T07:59:00Z",
                            "trigger": "Alerting",
                            "actual_value": "Faulted",
                            "event_notification_type": "HardWiredNotification",
                            "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                            "variable": {"name": "Problem"},
                        }
                    ],
                )
            )
            await cp.send(
                call.SecurityEventNotification(
                    type="TamperDetectionActivated", timestamp="2027-03-01T08:01:00Z", tech_info="lid open"
                )
            )
            await cp.send(call.FirmwareStatusNotification(status="Downloading", request_id=3))
            await cp.send(call.LogStatusNotification(status="Uploading", request_id=4))
            return await cp.send(
                call.DataTransfer(vendor_id="com.example", message_id="soc", data={"soc": 80})
            )

    assert asyncio.run(scenario()).status == "Accepted"

    events = {event.kind: event for event in ChargerEvent.objects.filter(charger=charger)}
    assert (events["event"].name, events["event"].component, events["event"].value) == (
        "Alerting",
        "Connector",
        "Faulted",
    )
    assert (events["security"].name, events["security"].value) == ("TamperDetectionActivated", "lid open")
    charger.refresh_from_db()
    assert (charger.firmware_status, charger.diagnostics_status) == ("Downloading", "Uploading")
    transfer = DataTransferMessage.objects.get(charger=charger)
    assert (transfer.vendor_id, transfer.message_id, json.loads(transfer.data)) == (
        "com.example",
        "soc",
        {"soc": 80},
    )


# Framing: the 1.6 rules, in OCPP-J 2.0.1's error codes ---------------------------------------------


def exchange201(csms, frames: list[str]) -> list:
    """Send raw frames as the 2.0.1 charger CP-201, then a good Heartbeat; every answer in order."""

    async def scenario():
        async with raw_socket(csms.ws_url, "CP-201", subprotocols=("ocpp2.0.1",)) as ws:
            for frame in frames:
                await ws.send(frame)
            await ws.send('[2,"hb-after","Heartbeat",{}]')
            answers = []
            while not answers or answers[-1][1] != "hb-after":
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            return answers

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        ('[2,"abc-1","Heartbeat",{', [4, "abc-1", "RpcFrameworkError"]),  # not JSON, id readable
        ("this is not json", [4, "-1", "RpcFrameworkError"]),  # no id to answer to: "-1"
        ('[2, 17, "Heartbeat", {}]', [4, "-1", "RpcFrameworkError"]),
        ('[2,"abc-2","Heartbeat"]', [4, "abc-2", "RpcFrameworkError"]),  # a CALL of three elements
        ('[7,"abc-9",{}]', [4, "abc-9", "MessageTypeNotSupported"]),
        ('[2,"abc-3","Heartbeat",[1,2]]', [4, "abc-3", "FormatViolation"]),  # payload not an object
        ('[2,"abc-4","MakeCoffee",{}]', [4, "abc-4", "NotImplemented"]),
        ('[2,"abc-5","StartTransaction",{}]', [4, "abc-5", "NotImplemented"]),  # a 1.6 action
        (
            '[2,"abc-6","BootNotification",{"reason":"PowerUp"}]',
            [4, "abc-6", "ProtocolError"],
        ),  # missing field
        ('[2,"abc-7","Heartbeat",{"extra":1}]', [4, "abc-7", "FormatViolation"]),
    ],
)
def test_it_answers_a_broken_201_frame_in_201_words(csms, frame, answer):
    register_charger("CP-201")

    *errors, heartbeat = exchange201(csms, [frame])

    assert heartbeat[0] == 3, "the connection keeps serving good messages"
    assert [error[:3] for error in errors] == [answer]


def test_it_never_answers_a_broken_answer_from_a_201_charger(csms):
    register_charger("CP-201")

    answers = exchange201(csms, ['[3,"abc-11"]', '[4,"abc-12","NotAnError"]', '[3,"nobody-asked",{}]', "[3,"])

    assert [answer[1] for answer in answers] == ["hb-after"]


def test_it_logs_a_201_chargers_frames_both_ways(csms):
    register_charger("CP-201")

    exchange201(csms, ['[2,"abc-1","Heartbeat",{'])

    def logged():
        return sorted(
            MessageLog.objects.filter(charge_point_id="CP-201").values_list("direction", "message_id")
        )

    assert wait_until(lambda: len(logged()) == 4)
    assert logged() == [("in", "abc-1"), ("in", "hb-after"), ("out", "abc-1"), ("out", "hb-after")]
