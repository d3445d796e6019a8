"""The official OCPP schemas, as the `ocpp` library holds and applies them.

One place for the library's one quirk that our own schema checks must copy:
for three OCPP 1.6 messages it parses floats (schema and payload) as Decimal,
so that `multipleOf: 0.1` holds for a limit like 21.4. Its validators are
cached by action, so asking for one of those with float parsing would break
the library's own later checks (ocpp.messages._validate_payload).
"""

import re
from decimal import Decimal

from ocpp.messages import MessageType, get_validator

DECIMAL_MESSAGES = {
    (MessageType.Call, "SetChargingProfile"),
    (MessageType.Call, "RemoteStartTransaction"),
    (MessageType.CallResult, "GetCompositeSchedule"),
}


def uses_decimals(message_type_id: int, action: str, ocpp_version: str) -> bool:
    """Whether the library validates this message with Decimal floats."""
    return ocpp_version == "1.6" and (message_type_id, action) in DECIMAL_MESSAGES


def call_schema_errors(action: str, payload, ocpp_version: str = "1.6") -> dict[str, str]:
    """The fields of a CALL payload the official schema rejects, by path, as the library would."""
    decimals = uses_decimals(MessageType.Call, action, ocpp_version)
    validator = get_validator(
        MessageType.Call, action, ocpp_version, parse_float=Decimal if decimals else float
    )
    if decimals:
        payload = _with_decimals(payload)
    return {_field_path(error): error.message for error in validator.iter_errors(payload)}


def _with_decimals(value):
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _with_decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_decimals(item) for item in value]
    return value


def _field_path(error) -> str:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        path.append(re.match(r"'(.*?)'", error.message).group(1))
    elif error.validator == "additionalProperties":
        path.append(",".join(re.findall(r"'(.*?)'", error.message.partition("(")[2])))
    return ".".join(path) or "payload"
