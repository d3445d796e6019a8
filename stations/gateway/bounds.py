"""What a charger may send, bounded to what our columns hold, before it reaches a service.

The OCPP schemas allow integers of any size, strings with NUL or an unpaired
surrogate (JSON escapes), and timestamps in any year; the database refuses
such values, and a refused value must never cost anything else. Each value
is checked or made storable here, at the handler that accepts the frame:
- identifiers and counters out of their column's range are a
  PropertyConstraintViolation CALLERROR, naming the field;
- free text (status info, vendor fields, meter values as sent) is kept with
  the unstorable characters replaced, so the record is not lost;
- timestamps are checked by stations.ocpp_time.parse_timestamp.
"""

import json

from ocpp.exceptions import PropertyConstraintViolationError

INT32_MAX = 2**31 - 1  # IntegerField / PositiveIntegerField on PostgreSQL
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # BigIntegerField
REPLACEMENT = "\ufffd"


def connector_id(value: int, field: str = "connectorId") -> int:
    """A connector number: 0 (the whole charger) up to what an integer column holds."""
    return _in_range(value, 0, INT32_MAX, field)


def int32(value: int, field: str) -> int:
    return _in_range(value, -INT32_MAX - 1, INT32_MAX, field)


def int64(value: int, field: str) -> int:
    return _in_range(value, INT64_MIN, INT64_MAX, field)


def optional_int32(value: int | None, field: str) -> int | None:
    return None if value is None else int32(value, field)


def _in_range(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise PropertyConstraintViolationError(
            description=f"{field} {value} is out of range ({low} to {high})", details={"field": field}
        )
    return value


def text(value: str | None) -> str:
    """Free text made storable: NUL and unpaired surrogates replaced, nothing else changed.

    The common case (ASCII without NUL) returns the very string, at the cost of two scans.
    """
    if not value:
        return ""
    if value.isascii():
        return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
    cleaned = value.encode("utf-8", "replace").decode("utf-8")  # an unpaired surrogate becomes "?"
    return cleaned.replace("\x00", REPLACEMENT)


def id_tag(value: str, field: str = "idTag") -> str:
    """An idTag as the charger sent it, refused when no card could ever carry it (NUL, lone surrogate)."""
    if text(value) != value:
        raise PropertyConstraintViolationError(
            description=f"{field} holds characters no RFID card carries", details={"field": field}
        )
    return value


def storable_json(value):
    """A JSON value as sent, with its strings (keys too) made storable by `text`.

    Most values (a 2.0.1 TransactionEvent's meter values, on every frame) hold nothing to clean: one
    C-speed dump, in which any NUL, surrogate or other non-ASCII character shows as a \\u escape,
    tells, instead of a walk over every string in Python.
    """
    if "\\u" not in json.dumps(value, default=str):
        return value
    return _storable_json(value)


def _storable_json(value):
    if isinstance(value, dict):
        return {text(key): _storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    return text(value) if isinstance(value, str) else value
