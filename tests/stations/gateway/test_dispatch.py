"""The compiled schema checks agree with the `ocpp` library's, payload by payload."""

import asyncio
import copy

import fastjsonschema
import pytest
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, validate_payload

from stations.gateway.dispatch import camel_case, compiled_schema, snake_case, validate

SAMPLE = {
    "timestamp": "2026-11-21T10:00:00Z",
    "sampledValue": [
        {
            "value": "1234.5",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": "Sample.Periodic",
        },
        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W", "phase": "L1"},
    ],
}
VALID_CALLS = {
    "BootNotification": {"chargePointVendor": "Alfen", "chargePointModel": "Eve", "firmwareVersion": "4.12"},
    "Heartbeat": {},
    "StatusNotification": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "2026-11-21T10:00:00Z",
    },
    "Authorize": {"idTag": "CARD-1"},
    "StartTransaction": {
        "connectorId": 1,
        "idTag": "CARD-1",
        "meterStart": 0,
        "timestamp": "2026-11-21T10:00:00Z",
    },
    "MeterValues": {"connectorId": 1, "transactionId": 7, "meterValue": [SAMPLE]},
    "StopTransaction": {
        "meterStop": 5000,
        "timestamp": "2026-11-21T11:00:00Z",
        "transactionId": 7,
        "reason": "Local",
        "transactionData": [SAMPLE],
    },
    "DataTransfer": {"vendorId": "com.example", "messageId": "x", "data": "anything"},
    "FirmwareStatusNotification": {"status": "Installed"},
    "DiagnosticsStatusNotification": {"status": "Uploaded"},
}


def broken_variants(action: str, payload: dict) -> list[dict]:
    """What misbehaving chargers send: wrong types, extra or missing fields, overlong strings, bad enums."""
    variants = [{**payload, "surprise": 1}]
    for key, value in payload.items():
        variants += [{k: v for k, v in payload.items() if k != key}, {**payload, key: None}]
        if isinstance(value, int):
            variants += [
                {**payload, key: float(value)},
                {**payload, key: True},
                {**payload, key: str(value)},
                {**payload, key: -1},
            ]
        if isinstance(value, str):
            variants += [{**payload, key: value * 60}, {**payload, key: 12}, {**payload, key: "Bogus"}]
    if "meterValue" in payload or "transactionData" in payload:
        nested = copy.deepcopy(payload)
        values = nested.get("meterValue") or nested["transactionData"]
        values[0]["sampledValue"][0]["value"] = 1234.5
        variants += [
            nested,
            {**payload, ("meterValue" if "meterValue" in payload else "transactionData"): []},
        ]
    return variants


def library_accepts(message) -> bool:
    try:
        asyncio.run(validate_payload(message, "1.6"))
        return True
    except OCPPError:
        return False


def fast_accepts(message) -> bool:
    try:
        compiled_schema(message.message_type_id, message.action, "1.6")(message.payload)
        return True
    except fastjsonschema.JsonSchemaException:
        return False


CASES = [
    (action, payload)
    for action, valid in VALID_CALLS.items()
    for payload in [valid, *broken_variants(action, valid)]
]


@pytest.mark.parametrize("action, payload", CASES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(CASES)])
def test_it_accepts_and_refuses_what_the_library_does(action, payload):
    message = Call("id-1", action, payload)

    assert fast_accepts(message) == library_accepts(message)


def test_it_raises_the_librarys_own_error_for_a_refused_payload():
    message = Call(
        "id-2",
        "StartTransaction",
        {"connectorId": "one", "idTag": "CARD-1", "meterStart": 0, "timestamp": "2026-11-21T10:00:00Z"},
    )

    with pytest.raises(OCPPError) as ours:
        asyncio.run(validate(message, "1.6"))
    with pytest.raises(OCPPError) as library:
        asyncio.run(validate_payload(message, "1.6"))
    assert (ours.value.code, ours.value.description) == (library.value.code, library.value.description)
    assert ours.value.code == "TypeConstraintViolation"


def test_it_checks_our_answers_too():
    answer = CallResult("id-3", {"transactionId": 7, "idTagInfo": {"status": "Maybe"}})
    answer.action = "StartTransaction"

    with pytest.raises(OCPPError):
        asyncio.run(validate(answer, "1.6"))


@pytest.mark.parametrize("payload", VALID_CALLS.values(), ids=VALID_CALLS.keys())
def test_it_translates_keys_as_the_library_does(payload):
    snake = snake_case(payload)

    assert snake == camel_to_snake_case(payload)
    assert camel_case(snake) == snake_to_camel_case(snake)
