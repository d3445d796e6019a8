"""Batched writes of bulky records, off the OCPP reply path.

Under Channels every ORM call of a process runs on one thread, so one INSERT
per frame caps the whole server. Meter values and the message log are
collected here and written in one transaction every OCPP_WRITE_BEHIND_MS.
Connector statuses (history and latest), heartbeat times and the record of
each WebSocket handshake go the same way.
Nothing that decides money or a reply goes through here: Start/Stop-
Transaction are committed before they are answered, and a StopTransaction
flushes the buffer first so the session's meter values are all stored.
"""

import asyncio
import logging

from django.conf import settings
from django.db import transaction

from stations.models import (
    Charger,
    ConnectionAttempt,
    Connector,
    MessageLog,
    MeterValue,
    StatusNotification,
    Transaction,
)
from stations.gateway.bulk_writers import append_rows, append_values, update_by_pk
from stations.gateway.orm_pool import in_pool

logger = logging.getLogger(__name__)

# A frame's log row as plain values, in this order: no model instance per frame on the event loop.
LOG_FIELDS = ("charge_point_id", "direction", "message_type", "message_id", "action", "payload", "created_at")
_pending_logs: list[tuple] = []
_pending_attempts: list[ConnectionAttempt] = []
_pending_samples: list[MeterValue] = []
_pending_statuses: list[StatusNotification] = []
_pending_heartbeats: dict[int, object] = {}  # charger pk -> time of its latest heartbeat
_pending_seen: dict[int, object] = {}  # charger pk -> time a frame of it was last seen
_flusher: asyncio.Task | None = None
_flush_lock: asyncio.Lock | None = None


def log_frame(*values) -> None:
    """One frame of the message log: the values of LOG_FIELDS."""
    _pending_logs.append(values)
    _ensure_flusher()


def add_connection_attempt(attempt: ConnectionAttempt) -> None:
    _pending_attempts.append(attempt)
    _ensure_flusher()


def add_meter_values(samples: list[MeterValue]) -> None:
    _pending_samples.extend(samples)
    _ensure_flusher()


def add_status(status: StatusNotification) -> None:
    _pending_statuses.append(status)
    _ensure_flusher()


def note_heartbeat(charger_pk: int, at) -> None:
    _pending_heartbeats[charger_pk] = at
    _ensure_flusher()


def note_seen(charger_pk: int, at) -> None:
    _pending_seen[charger_pk] = at
    _ensure_flusher()


async def flush() -> None:
    """Write everything buffered so far; safe to call from any consumer."""
    global _flush_lock
    if _flush_lock is None:
        _flush_lock = asyncio.Lock()
    async with _flush_lock:
        batch = _take_pending()
        if any(batch):
            await in_pool(_write)(*batch)


def _has_pending() -> bool:
    return any(_all_pending())


def _all_pending() -> tuple:
    return _pending_logs, _pending_attempts, _pending_samples, _pending_statuses, _pending_heartbeats, _pending_seen


def _take_pending() -> tuple[list, list, list, list, dict, dict]:
    pending = _all_pending()
    batch = tuple(part.copy() for part in pending)
    for part in pending:
        part.clear()
    return batch


def _ensure_flusher() -> None:
    global _flusher
    if _flusher is None or _flusher.done():
        _flusher = asyncio.get_running_loop().create_task(_flush_forever())


async def _flush_forever() -> None:
    interval = settings.OCPP_WRITE_BEHIND_MS / 1000
    while _has_pending():
        await asyncio.sleep(interval)
        try:
            await flush()
        except Exception:  # keep flushing later batches; this one is logged with its cause
            logger.exception("write-behind flush failed")


def _write(logs: list[tuple], attempts: list[ConnectionAttempt], samples: list[MeterValue], statuses: list,
           heartbeats: dict, seen: dict) -> None:
    with transaction.atomic():
        append_values(MessageLog, LOG_FIELDS, logs)
        append_rows(ConnectionAttempt, attempts)
        _drop_unknown_transactions(samples)
        # A charger replaying queued MeterValues sends the same samples again:
        # the unique constraint on a sample makes the replay a no-op.
        append_rows(MeterValue, samples, ignore_conflicts=True)
        _write_statuses(statuses)
        # A heartbeat is also a sign of life; a charger only seen keeps its last heartbeat (None).
        times = [(pk, at, at) for pk, at in heartbeats.items()]
        times += [(pk, None, at) for pk, at in seen.items() if pk not in heartbeats]
        update_by_pk(Charger, ("last_heartbeat_at", "last_seen_at"), times)


STATUS_FIELDS = ["status", "error_code", "info", "vendor_id", "vendor_error_code", "status_at"]


def _write_statuses(statuses: list[StatusNotification]) -> None:
    """The history as it came, and one upsert of each connector's latest status."""
    append_rows(StatusNotification, statuses)
    latest = {(s.charger_id, s.connector_id): s for s in statuses}  # arrival order: the last one wins
    Connector.objects.bulk_create(
        [Connector(charger_id=s.charger_id, connector_id=s.connector_id, status_at=s.timestamp or s.received_at,
                   **{field: getattr(s, field) for field in STATUS_FIELDS[:-1]}) for s in latest.values()],
        update_conflicts=True, unique_fields=["charger", "connector_id"], update_fields=STATUS_FIELDS,
    )


def _drop_unknown_transactions(samples: list[MeterValue]) -> None:
    """Keep a sample whose transactionId we never issued to its charger, but unlinked."""
    claimed = {s.transaction_id for s in samples if s.transaction_id is not None}
    known = set(Transaction.objects.filter(pk__in=claimed).values_list("pk", "charger_id"))
    for sample in samples:
        if sample.transaction_id is not None and (sample.transaction_id, sample.charger_id) not in known:
            sample.transaction_id = None
