"""OCPP timestamps: UTC on the wire with a 'Z', aware datetimes inside.

Imports nothing from Django: the fleet simulator (stations.simulator) writes
its chargers' timestamps with the same function.
"""

from datetime import UTC, datetime

from ocpp.exceptions import FormatViolationError


def utc_iso(moment: datetime | None = None) -> str:
    """Strict chargers reject '+00:00' and naive times: always '...Z', milliseconds."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """A charger's dateTime; a time without offset is taken as UTC, as OCPP requires UTC.

    The schemas declare format date-time but validators do not enforce it,
    so a garbage timestamp is caught here and answered as FormatViolation.
    """
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise FormatViolationError(details={"cause": f"'{value}' is not an ISO 8601 date-time"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
