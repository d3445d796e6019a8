"""Answering a charger's CALL: the `ocpp` library's steps, without their per-call overhead.

The library's `ChargePoint._handle_call` checks each payload with `jsonschema`,
inspects the handler's signature and turns every key from camelCase to
snake_case (and back) with regular expressions, on every CALL: a quarter of a
server's CPU under a fleet's MeterValues. Here the same steps run with the
handlers the library routed (`@on`), schemas compiled once with
`fastjsonschema`, key translations remembered and empty answers not copied.

Only valid payloads take the fast check. One it refuses is checked again by
the library, so the CALLERROR a charger gets (and its code) is the library's
own; should the two ever disagree, the library's verdict stands.
"""

import functools
import logging

import fastjsonschema
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, get_validator, validate_payload

from stations.ocpp_schemas import uses_decimals

logger = logging.getLogger(__name__)


async def answer(handler, routes: dict, message: Call, ocpp_version: str) -> str:
    """The CALLRESULT text answering `message`, from the function of `routes` `@on` its action.

    Raises OCPPError for a payload the schema or a handler refuses; any other
    failure of the handler becomes an InternalError answer, as with the library.
    """
    await validate(message, ocpp_version)
    try:
        response = await routes[message.action]["_on_action"](handler, **snake_case(message.payload))
    except (
        OCPPError
    ):  # a value the handler refused (stations.gateway.bounds): its own CALLERROR, no traceback
        raise
    except Exception as error:
        logger.exception("%s: error while handling %s", handler.charger.charge_point_id, message.action)
        return message.create_call_error(error).to_json()
    result = message.create_call_result(_payload(response))
    await validate(result, ocpp_version)
    return result.to_json()


def _payload(response) -> dict:
    """The library's camel_case(remove_nones(serialize_as_dict(response))). Most answers carry nothing
    (MeterValues, StatusNotification, a 2.0.1 Updated): those skip the library's deep copy of every field."""
    if all(getattr(response, name) is None for name in response.__dataclass_fields__):
        return {}
    return camel_case(remove_nones(serialize_as_dict(response)))


async def validate(message: Call | CallResult, ocpp_version: str) -> None:
    """Raise the library's OCPPError if the payload breaks the official schema."""
    check = compiled_schema(message.message_type_id, message.action, ocpp_version)
    if check is None:
        return await validate_payload(message, ocpp_version)
    try:
        check(message.payload)
    except fastjsonschema.JsonSchemaException:
        await validate_payload(message, ocpp_version)  # raises the error a charger must get


@functools.cache
def compiled_schema(message_type_id: int, action: str, ocpp_version: str):
    """A compiled check of the schema the library would use; None where the library's must be used.

    Like the library, it ignores `format` (e.g. date-time): timestamps are parsed by the handlers.
    """
    if uses_decimals(message_type_id, action, ocpp_version):
        return None  # the library checks `multipleOf` with Decimal floats: its own check stays
    schema = get_validator(message_type_id, action, ocpp_version).schema
    return fastjsonschema.compile(schema, use_formats=False)


def snake_case(data):
    """The library's camel_to_snake_case, remembering each key's translation."""
    return _translate(data, _snake_key)


def camel_case(data):
    """The library's snake_to_camel_case, remembering each key's translation."""
    return _translate(data, _camel_key)


def _translate(data, key_of):
    if isinstance(data, dict):
        return {key_of(key): _translate(value, key_of) for key, value in data.items()}
    if isinstance(data, list):
        return [_translate(value, key_of) for value in data]
    return data


# Keys come from validated payloads, mostly schema-defined: a bounded memory all the same.
@functools.lru_cache(maxsize=4096)
def _snake_key(key: str) -> str:
    return next(iter(camel_to_snake_case({key: None})))


@functools.lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    return next(iter(snake_to_camel_case({key: None})))
