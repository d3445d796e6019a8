"""Bad input gets a clear CALLERROR, never a crash, and never costs a good message."""

import asyncio
import json

import pytest

from stations.models import MessageLog
from tests.factories import register_charger
from tests.ocpp_client import raw_socket, wait_until

HEARTBEAT = '[2,"hb-after","Heartbeat",{}]'


def exchange(csms, frames: list[str]) -> list:
    """Send raw frames as charger CP-1, then a good Heartbeat; return every answer in order.

    The Heartbeat proves the socket survived; a frame that gets no answer is
    recognised by the Heartbeat's answer arriving in its place.
    """

    async def scenario():
        async with raw_socket(csms.ws_url, "CP-1") as ws:
            for frame in frames:
                await ws.send(frame)
            await ws.send(HEARTBEAT)
            answers = []
            while not answers or answers[-1][1] != "hb-after":
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            return answers

    return asyncio.run(scenario())


@pytest.fixture
def charger(csms):
    return register_charger("CP-1")


def only_error(answers):
    *errors, heartbeat = answers
    assert heartbeat[0] == 3, "the connection keeps serving good messages"
    assert len(errors) == 1
    return errors[0]


def test_it_answers_invalid_json_with_a_readable_id_as_format_violation(csms, charger):
    error = only_error(exchange(csms, ['[2,"abc-1","Heartbeat",{']))
    assert error[:3] == [4, "abc-1", "FormatViolation"]


def test_it_stays_silent_when_no_message_id_can_be_read(csms, charger):
    answers = exchange(csms, ["this is not json", "{}", "[]", '[2, 17, "Heartbeat", {}]'])
    assert [a[1] for a in answers] == ["hb-after"]


def test_it_answers_a_wrong_message_structure_as_protocol_error(csms, charger):
    error = only_error(exchange(csms, ['[2,"abc-2","Heartbeat"]']))
    assert error[:3] == [4, "abc-2", "ProtocolError"]


def test_it_answers_a_payload_that_is_not_an_object_as_format_violation(csms, charger):
    error = only_error(exchange(csms, ['[2,"abc-3","Heartbeat",[1,2]]']))
    assert error[:3] == [4, "abc-3", "FormatViolation"]


def test_it_answers_an_unknown_message_type_or_element_count_as_protocol_error(csms, charger):
    answers = exchange(csms, ['[7,"abc-9",{}]', '[2,"abc-10","Heartbeat",{},5]'])
    assert [a[:3] for a in answers[:2]] == [[4, "abc-9", "ProtocolError"], [4, "abc-10", "ProtocolError"]]


def test_it_never_answers_a_broken_answer(csms, charger):
    answers = exchange(csms, ['[3,"abc-11"]', '[4,"abc-12","NotAnError"]', '[3,"nobody-asked",{}]'])
    assert [a[1] for a in answers] == ["hb-after"]


def test_it_answers_an_unknown_action_as_not_implemented(csms, charger):
    error = only_error(exchange(csms, ['[2,"abc-4","MakeCoffee",{}]']))
    assert error[:3] == [4, "abc-4", "NotImplemented"]


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"chargePointModel": "M"}, "ProtocolError"),  # required vendor missing
        ({"chargePointVendor": 42, "chargePointModel": "M"}, "TypeConstraintViolation"),
        ({"chargePointVendor": "V", "chargePointModel": "M", "colour": "red"}, "FormatViolation"),
        ({"chargePointVendor": "V" * 21, "chargePointModel": "M"}, "TypeConstraintViolation"),
    ],
)
def test_it_answers_schema_violations_with_the_matching_error(csms, charger, payload, code):
    error = only_error(exchange(csms, [json.dumps([2, "abc-5", "BootNotification", payload])]))
    assert error[:3] == [4, "abc-5", code]


def test_it_answers_an_unparseable_timestamp_as_format_violation(csms, charger):
    frame = json.dumps(
        [
            2,
            "abc-6",
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "yesterday"},
        ]
    )
    error = only_error(exchange(csms, [frame]))
    assert error[:3] == [4, "abc-6", "FormatViolation"]


def test_it_refuses_an_oversized_frame_and_says_so_in_the_log(csms, charger):
    huge = json.dumps([2, "abc-7", "DataTransfer", {"vendorId": "V", "data": "x" * 70_000}])

    error = only_error(exchange(csms, [huge]))

    assert error[:3] == [4, "abc-7", "FormatViolation"]
    assert "exceeds 65536 bytes" in error[3]
    assert wait_until(lambda: "over the 65536-byte limit: refused" in csms.output())


def test_it_logs_broken_frames_too(csms, charger):
    exchange(csms, ['[2,"abc-8","Heartbeat",{'])

    assert wait_until(lambda: MessageLog.objects.filter(direction="in", message_id="abc-8").exists())
    reply = wait_until(lambda: MessageLog.objects.filter(direction="out", message_id="abc-8").first())
    assert reply.message_type == 4


def test_it_answers_a_frame_larger_than_the_servers_own_old_limit(csms, charger):
    # daphne dropped messages over 1 MiB before the product's size check could answer them.
    huge = json.dumps([2, "abc-big", "DataTransfer", {"vendorId": "V", "data": "x" * (2 * 1024 * 1024)}])

    error = only_error(exchange(csms, [huge]))

    assert error[:3] == [4, "abc-big", "FormatViolation"]


def test_it_answers_a_deeply_nested_frame_and_marks_the_charger_offline_when_it_leaves(csms, charger):
    nested = '[2,"abc-deep","DataTransfer",{"vendorId":"V","data":' + "[" * 100_000 + "]" * 100_000 + "}]"

    error = only_error(exchange(csms, [nested]))

    assert error[:3] == [4, "abc-deep", "FormatViolation"]
    charger.refresh_from_db()
    assert wait_until(lambda: not type(charger).objects.get(pk=charger.pk).is_connected)
