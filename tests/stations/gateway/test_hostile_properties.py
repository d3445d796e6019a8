"""Whatever a charger puts in any stored field of any OCPP 1.6 message, every frame is answered and no
other charger loses anything.

Hypothesis builds frames of every charger→CSMS action with hostile values in
each field (NUL, lone surrogates, strings longer once upper-cased, integers
past every column, readings like 1e30, timestamps in the year 10000 or none
at all, wrong types) and a hostile charger sends them on one socket, raw,
while a good charger runs a session beside it. The examples are derandomized:
CI runs the same ones every time; HOSTILE_EXAMPLES=500 explores further.
"""

import asyncio
import json
import os
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v16 import call

from stations.models import MeterValue, Transaction
from tests.conftest import flush_after_server_writes, own_server
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, raw_socket

MAX_EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))

HOSTILE_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfffy", "ß" * 20, "", " " * 60, "\r\n", "💥" * 20]
)
TEXT = HOSTILE_TEXT | st.text(max_size=60)
INTEGER = st.sampled_from([-1, 0, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30]) | st.integers()
TIMESTAMP = st.sampled_from(
    [
        "",
        "2026-01-01",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+01:00",
        "1969-12-31T23:59:59Z",
        "yesterday",
        "2026-02-30T00:00:00Z",
        "2026-11-29T08:00:00",
    ]
) | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda moment: moment.replace(tzinfo=UTC).isoformat()
)
READING = st.sampled_from(["1e30", "NaN", "-inf", "1e-30", "12.3456789", "-5", "0x10"]) | TEXT
ANY = TEXT | INTEGER | st.none() | st.booleans() | st.lists(st.integers(), max_size=2)


def sampled_values():
    return st.lists(
        st.fixed_dictionaries(
            {"value": READING},
            optional={
                "measurand": st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import"]) | TEXT,
                "unit": st.sampled_from(["Wh", "kWh", "W"]) | TEXT,
                "phase": TEXT,
                "context": TEXT,
            },
        ),
        min_size=1,
        max_size=3,
    )


def meter_values():
    return st.lists(
        st.fixed_dictionaries({"timestamp": TIMESTAMP, "sampledValue": sampled_values()}),
        min_size=1,
        max_size=2,
    )


PAYLOADS = {
    "BootNotification": st.fixed_dictionaries(
        {"chargePointVendor": TEXT, "chargePointModel": TEXT},
        optional={"chargePointSerialNumber": TEXT, "firmwareVersion": TEXT, "iccid": TEXT, "meterType": TEXT},
    ),
    "Heartbeat": st.just({}),
    "StatusNotification": st.fixed_dictionaries(
        {
            "connectorId": INTEGER,
            "errorCode": st.sampled_from(["NoError", "OtherError"]) | TEXT,
            "status": st.sampled_from(["Available", "Charging", "Faulted"]) | TEXT,
        },
        optional={"info": TEXT, "vendorId": TEXT, "vendorErrorCode": TEXT, "timestamp": TIMESTAMP},
    ),
    "Authorize": st.fixed_dictionaries({"idTag": TEXT}),
    "StartTransaction": st.fixed_dictionaries(
        {"connectorId": INTEGER, "idTag": TEXT, "meterStart": INTEGER, "timestamp": TIMESTAMP},
        optional={"reservationId": INTEGER},
    ),
    "MeterValues": st.fixed_dictionaries(
        {"connectorId": INTEGER, "meterValue": meter_values()}, optional={"transactionId": INTEGER}
    ),
    "StopTransaction": st.fixed_dictionaries(
        {"transactionId": INTEGER, "meterStop": INTEGER, "timestamp": TIMESTAMP},
        optional={
            "idTag": TEXT,
            "reason": st.sampled_from(["Local", "Other"]) | TEXT,
            "transactionData": meter_values(),
        },
    ),
    "DataTransfer": st.fixed_dictionaries(
        {"vendorId": TEXT}, optional={"messageId": TEXT, "data": TEXT | ANY}
    ),
    "DiagnosticsStatusNotification": st.fixed_dictionaries({"status": st.sampled_from(["Uploaded"]) | TEXT}),
    "FirmwareStatusNotification": st.fixed_dictionaries({"status": st.sampled_from(["Installed"]) | TEXT}),
}
FRAMES = st.lists(
    st.sampled_from(sorted(PAYLOADS)).flatmap(
        lambda action: PAYLOADS[action].map(lambda payload: (action, payload))
    ),
    min_size=5,
    max_size=25,
)


hostile_process, hostile = own_server("hostile", OCPP_WRITE_BEHIND_MS="50")


async def hostile_charger(server, frames: list[tuple[str, dict]]) -> dict[str, list]:
    """Send every frame raw (JSON escapes keep the wire valid UTF-8); return the answer to each CALL id."""
    answers = {}
    async with raw_socket(server.ws_url, "CP-BAD") as ws:
        for number, (action, payload) in enumerate(frames):
            await ws.send(json.dumps([2, f"h-{number}", action, payload]))
        while len(answers) < len(frames):
            answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
            answers[answer[1]] = answer
    return answers


async def good_session(server) -> int:
    async with connected_charger(server.ws_url, "CP-GOOD") as cp:
        started = await cp.start_transaction(id_tag="GOOD-TAG", meter_start=0)
        for minute in range(3):
            await cp.send(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[
                        {
                            "timestamp": f"2027-03-01T08:0{minute}:00Z",
                            "sampled_value": [{"value": str(minute * 100)}],
                        }
                    ],
                )
            )
        await cp.stop_transaction(started.transaction_id, 300)
        return started.transaction_id


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("HOSTILE_EXAMPLES") is None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=FRAMES)
def test_it_answers_every_hostile_frame_and_keeps_every_good_record(
    hostile_process, transactional_db, frames
):
    flush_after_server_writes()  # each example starts on empty tables (one database for all of them)
    register_charger("CP-GOOD"), register_charger("CP-BAD")

    async def both():
        return await asyncio.gather(hostile_charger(hostile_process, frames), good_session(hostile_process))

    answers, transaction_id = asyncio.run(both())

    assert sorted(answers) == sorted(f"h-{n}" for n in range(len(frames))), "every CALL answered"
    assert all(answer[0] in (3, 4) for answer in answers.values())
    assert not any(answer[0] == 4 and answer[2] == "InternalError" for answer in answers.values()), answers
    session = Transaction.objects.get(pk=transaction_id)
    assert session.stopped_at is not None and session.meter_stop == 300
    assert sorted(MeterValue.objects.filter(transaction=session).values_list("value", flat=True)) == [
        "0",
        "100",
        "200",
    ]
    assert hostile_process.process.poll() is None, "the server process is alive"
