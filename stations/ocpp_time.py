"""OCPP timestamps: UTC on the wire with a 'Z', aware datetimes inside."""

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from ocpp.exceptions import FormatViolationError


def utc_iso(moment: datetime | None = None) -> str:
    """Strict chargers reject '+00:00' and naive times: always '...Z', milliseconds."""
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """A charger's dateTime; a time without offset is taken as UTC, as OCPP requires UTC.

    The schemas declare format date-time but validators do not enforce it,
    so a garbage timestamp is caught here and answered as FormatViolation.
    """
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise FormatViolationError(details={"cause": f"'{value}' is not an ISO 8601 date-time"})
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment
