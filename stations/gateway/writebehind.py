"""Batched writes of bulky records, off the OCPP reply path.

Under Channels every ORM call of a process runs on one thread, so one INSERT
per frame caps the whole server. Meter values and the message log are
collected here and written in one transaction every OCPP_WRITE_BEHIND_MS.
Connector statuses (history and latest), heartbeat times, the record of
each WebSocket handshake and OCPP 2.0.1 TransactionEvent Updated rows (the
2.0.1 MeterValues: stations.transaction_events.written_behind) go the same way.
Nothing that decides money or a reply goes through here: Start/Stop-
Transaction and a 2.0.1 Started or Ended are committed before they are
answered, and a stop first waits for the batch holding its charger's latest
meter values (and events) to be committed: batch_of() and writing() below,
gateway/stop_flush.py.
"""

import asyncio
import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from stations.gateway.bulk_writers import append_rows, append_values, update_by_pk
from stations.gateway.orm_pool import in_pool
from stations.models import (
    Charger,
    ConnectionAttempt,
    Connector,
    MessageLog,
    MeterValue,
    RefusedRecord,
    Sample,
    StatusNotification,
    Transaction,
    TransactionEvent,
)

logger = logging.getLogger(__name__)

# The database is gone or restarting, not refusing a row: the batch waits for the next flush.
CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Rows kept for the next flush while the database cannot be reached, at most; older ones go first.
MAX_PENDING_ROWS = 200_000

# A frame's log row as plain values, in this order: no model instance per frame on the event loop.
LOG_FIELDS = MessageLog.VALUE_FIELDS
_pending_logs: list[tuple] = []
_pending_attempts: list[ConnectionAttempt] = []
_pending_samples: list[Sample] = []
_pending_statuses: list[StatusNotification] = []
_pending_heartbeats: dict[int, object] = {}  # charger pk -> time of its latest heartbeat
_pending_seen: dict[int, object] = {}  # charger pk -> time a frame of it was last seen
_pending_events: list[TransactionEvent] = []  # 2.0.1 Updated events of known sessions
_flusher: asyncio.Task | None = None
_registered_for_shutdown = False
_flush_lock: asyncio.Lock | None = None

# Batches are numbered: records are added to batch _collecting, flush() takes it and writes it.
_collecting = 1
_committed = 0  # every batch up to this one is stored (flushes run one at a time, in order)
_writing: dict[int, asyncio.Future] = {}  # batch number -> done (True) or failed (False)
# charger pk -> the batch holding its latest meter values or events; one int per charger ever seen.
_batch_of_charger: dict[int, int] = {}


def log_frame(*values) -> None:
    """One frame of the message log: the values of LOG_FIELDS."""
    _pending_logs.append(values)
    _ensure_flusher()


def add_connection_attempt(attempt: ConnectionAttempt) -> None:
    _pending_attempts.append(attempt)
    _ensure_flusher()


def add_meter_values(samples: list[Sample]) -> None:
    """One frame's samples: all of one charger."""
    if samples:
        _pending_samples.extend(samples)
        _batch_of_charger[samples[0].charger_id] = _collecting
        _ensure_flusher()


def add_transaction_event(event: TransactionEvent) -> None:
    _pending_events.append(event)
    _batch_of_charger[event.charger_id] = _collecting
    _ensure_flusher()


def batch_of(charger_pk: int) -> int | None:
    """The batch holding the charger's latest meter values or events, None once it is committed."""
    batch = _batch_of_charger.get(charger_pk, 0)
    return batch if batch > _committed else None


def writing(batch: int) -> asyncio.Future | None:
    """The flush writing `batch` (True once committed, False if it failed), None if it is still collecting."""
    return _writing.get(batch)


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
        number, done = _start_writing()  # an empty batch too: "committed" then covers all added so far
        committed = False
        try:
            if any(batch):
                await in_pool(_write)(*batch)
            committed = True
        except CONNECTION_ERRORS:
            _put_back(batch)  # nothing of it was committed: the next flush writes it
            raise
        finally:
            _finish_writing(number, done, committed=committed)


def _start_writing() -> tuple[int, asyncio.Future]:
    global _collecting
    number, _collecting = _collecting, _collecting + 1
    done = _writing[number] = asyncio.get_running_loop().create_future()
    return number, done


def _finish_writing(number: int, done: asyncio.Future, *, committed: bool) -> None:
    global _committed
    del _writing[number]
    if committed:
        _committed = number
    else:  # its records went back into the batch collecting now, and so did their chargers
        for charger_pk, batch in _batch_of_charger.items():
            if batch == number:
                _batch_of_charger[charger_pk] = _collecting
    done.set_result(committed)


def _has_pending() -> bool:
    return any(_all_pending())


def _all_pending() -> tuple:
    return (
        _pending_logs,
        _pending_attempts,
        _pending_samples,
        _pending_statuses,
        _pending_heartbeats,
        _pending_seen,
        _pending_events,
    )


def _take_pending() -> tuple[list, list, list, list, dict, dict, list]:
    pending = _all_pending()
    batch = tuple(part.copy() for part in pending)
    for part in pending:
        part.clear()
    return batch


def _put_back(batch: tuple) -> None:
    """Return an unwritten batch in front of what arrived meanwhile, within MAX_PENDING_ROWS."""
    for pending, taken in zip(_all_pending(), batch):
        if isinstance(pending, dict):
            for key, value in taken.items():
                pending.setdefault(key, value)  # a newer time that arrived meanwhile wins
        else:
            pending[:0] = taken
    _trim_to_limit()


def _trim_to_limit() -> None:
    # The log goes first and meter values last: they are what sessions are priced from.
    parts = (_pending_logs, _pending_attempts, _pending_statuses, _pending_events, _pending_samples)
    for part in parts:
        excess = sum(len(each) for each in parts) - MAX_PENDING_ROWS
        if excess <= 0:
            return
        dropped = min(excess, len(part))
        del part[:dropped]
        logger.error("the database stays unreachable: %d buffered records dropped", dropped)


def _ensure_flusher() -> None:
    global _flusher
    if _flusher is None or _flusher.done():
        _flusher = asyncio.get_running_loop().create_task(_flush_forever())
        _flush_before_the_server_stops()


def _flush_before_the_server_stops() -> None:
    """On SIGTERM (systemd stop, an upgrade) write what answered frames left buffered before the process exits.

    daphne runs on Twisted's reactor, which waits for the Deferreds of its
    "before shutdown" triggers. Registered at the first record (after daphne
    registered its own trigger, which cancels every consumer), so this flush
    runs once no frame can be answered any more. Elsewhere (tests, other
    servers) there is no reactor and nothing to register.
    """
    global _registered_for_shutdown
    reactor = sys.modules.get("twisted.internet.reactor")
    if _registered_for_shutdown or reactor is None or not reactor.running:
        return
    from twisted.internet.defer import Deferred

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(_flush_everything()))
    )
    _registered_for_shutdown = True


async def _flush_everything() -> None:
    await asyncio.sleep(0)  # the consumers daphne just cancelled stop first
    while _has_pending():
        await flush()


async def _flush_forever() -> None:
    interval = settings.OCPP_WRITE_BEHIND_MS / 1000
    while _has_pending():
        await asyncio.sleep(interval)
        try:
            await flush()
        except Exception:  # keep flushing later batches; this one is logged with its cause
            logger.exception("write-behind flush failed")


def _write(
    logs: list[tuple],
    attempts: list[ConnectionAttempt],
    samples: list[Sample],
    statuses: list,
    heartbeats: dict,
    seen: dict,
    events: list[TransactionEvent] = (),
) -> None:
    """Write a batch in one transaction; if the database refuses a row, write the rest without it.

    A batch holds every charger's records: one bad row (a value a column
    cannot hold, a NUL in a text) must cost only itself, never another
    charger's data nor the StopTransaction that flushes next. The refused row
    is kept as a RefusedRecord with its error. A lost connection is no bad row:
    it is raised, and flush() keeps the batch for the next try.
    """
    parts = _parts(logs, attempts, samples, statuses, heartbeats, seen, events)
    try:
        with transaction.atomic():
            for _kind, rows, write in parts:
                write(rows)
    except CONNECTION_ERRORS:
        raise
    except Exception:  # which row it was is found below, a part and a half at a time
        for kind, rows, write in parts:
            _write_surviving(kind, rows, write)


def _parts(logs, attempts, samples, statuses, heartbeats, seen, events) -> list[tuple[str, list, object]]:
    # A heartbeat is also a sign of life; a charger only seen keeps its last heartbeat (None).
    times = [(pk, at, at) for pk, at in heartbeats.items()]
    times += [(pk, None, at) for pk, at in seen.items() if pk not in heartbeats]
    return [
        ("message log", logs, lambda rows: append_values(MessageLog, LOG_FIELDS, rows)),
        ("connection attempt", attempts, lambda rows: append_rows(ConnectionAttempt, rows)),
        ("meter value", samples, _write_samples),
        # A replayed event (the same charger, transactionId and seqNo) is a no-op, as a replayed sample.
        (
            "transaction event",
            events,
            lambda rows: append_rows(TransactionEvent, rows, ignore_conflicts=True),
        ),
        ("status notification", statuses, _write_statuses),
        (
            "charger times",
            times,
            lambda rows: update_by_pk(Charger, ("last_heartbeat_at", "last_seen_at"), rows),
        ),
    ]


def _write_surviving(kind: str, rows: list, write) -> None:
    """Write `rows`; on a refusal, each half on its own, down to the refused rows (O(k log n) statements)."""
    if not rows:
        return
    try:
        with transaction.atomic():
            write(rows)
    except CONNECTION_ERRORS:
        raise
    except Exception as error:
        if len(rows) == 1:
            RefusedRecord.keep(kind=kind, row=rows[0], error=error)
            return
        middle = len(rows) // 2
        _write_surviving(kind, rows[:middle], write)
        _write_surviving(kind, rows[middle:], write)


def _write_samples(samples: list[Sample]) -> None:
    # A charger replaying queued MeterValues sends the same samples again:
    # the unique constraint on a sample makes the replay a no-op.
    append_values(MeterValue, Sample._fields, _with_known_transactions(samples), ignore_conflicts=True)


STATUS_FIELDS = ["status", "error_code", "info", "vendor_id", "vendor_error_code", "status_at"]


def _write_statuses(statuses: list[StatusNotification]) -> None:
    """The history as it came, and one upsert of each connector's latest status."""
    append_rows(StatusNotification, statuses)
    latest = {(s.charger_id, s.connector_id): s for s in statuses}  # arrival order: the last one wins
    Connector.objects.bulk_create(
        [
            Connector(
                charger_id=s.charger_id,
                connector_id=s.connector_id,
                status_at=s.timestamp or s.received_at,
                **{field: getattr(s, field) for field in STATUS_FIELDS[:-1]},
            )
            for s in latest.values()
        ],
        update_conflicts=True,
        unique_fields=["charger", "connector_id"],
        update_fields=STATUS_FIELDS,
    )


def _with_known_transactions(samples: list[Sample]) -> list[Sample]:
    """A sample whose transactionId we never issued to its charger is kept, but unlinked."""
    claimed = {s.transaction_id for s in samples if s.transaction_id is not None}
    known = set(Transaction.objects.filter(pk__in=claimed).values_list("pk", "charger_id"))
    return [
        sample._replace(transaction_id=None)
        if sample.transaction_id is not None and (sample.transaction_id, sample.charger_id) not in known
        else sample
        for sample in samples
    ]
