"""OCPP timestamps: UTC on the wire with a 'Z', aware datetimes inside.

Imports nothing from Django: the fleet simulator (stations.simulator) writes
its chargers' timestamps with the same function.
"""

import re
from datetime import UTC, datetime

from ocpp.exceptions import FormatViolationError, PropertyConstraintViolationError

# A date and a time of day, seconds and offset optional (RFC 3339 asks for both; chargers skip them).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?")
# What a charger may date a record with. 1970 is the clock of a charger that lost its time; past
# 2100 nothing is real, and a year 10000 stored by PostgreSQL could never be read back by Python.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def utc_iso(moment: datetime | None = None) -> str:
    """Strict chargers reject '+00:00' and naive times: always '...Z', milliseconds."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """A charger's dateTime in UTC; a time without offset is taken as UTC, as OCPP requires UTC.

    The schemas declare format date-time but validators do not enforce it: a
    value that is no date and time of day (empty, a date alone, garbage) is a
    FormatViolation, one outside EARLIEST..LATEST a PropertyConstraintViolation.
    """
    moment = _parsed(value)
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-12:00 is in the year 10000 in UTC
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise PropertyConstraintViolationError(
            description=f"'{value}' is outside {EARLIEST.year} to {LATEST.year - 1}",
            details={"timestamp": value},
        )
    return moment


def _parsed(value: str) -> datetime:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value.strip()):
        raise FormatViolationError(description=f"'{value}' is not an ISO 8601 date and time")
    try:
        return datetime.fromisoformat(value.strip().replace("z", "Z").replace("t", "T"))
    except ValueError:  # e.g. month 13
        raise FormatViolationError(description=f"'{value}' is not an ISO 8601 date and time") from None
