"""Batched writes of bulky records, off the OCPP reply path.

Under Channels every ORM call of a process runs on one thread, so one INSERT
per frame caps the whole server. Meter values and the message log are
collected here and written in one transaction every OCPP_WRITE_BEHIND_MS.
Nothing that decides money or a reply goes through here: Start/Stop-
Transaction are committed before they are answered, and a StopTransaction
flushes the buffer first so the session's meter values are all stored.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from stations.models import MessageLog, MeterValue, Transaction

logger = logging.getLogger(__name__)

_pending_logs: list[MessageLog] = []
_pending_samples: list[MeterValue] = []
_flusher: asyncio.Task | None = None
_flush_lock: asyncio.Lock | None = None


def log_frame(entry: MessageLog) -> None:
    _pending_logs.append(entry)
    _ensure_flusher()


def add_meter_values(samples: list[MeterValue]) -> None:
    _pending_samples.extend(samples)
    _ensure_flusher()


async def flush() -> None:
    """Write everything buffered so far; safe to call from any consumer."""
    global _flush_lock
    if _flush_lock is None:
        _flush_lock = asyncio.Lock()
    async with _flush_lock:
        logs, samples = _take_pending()
        if logs or samples:
            await database_sync_to_async(_write)(logs, samples)


def _take_pending() -> tuple[list[MessageLog], list[MeterValue]]:
    logs, samples = _pending_logs[:], _pending_samples[:]
    _pending_logs.clear()
    _pending_samples.clear()
    return logs, samples


def _ensure_flusher() -> None:
    global _flusher
    if _flusher is None or _flusher.done():
        _flusher = asyncio.get_running_loop().create_task(_flush_forever())


async def _flush_forever() -> None:
    interval = settings.OCPP_WRITE_BEHIND_MS / 1000
    while _pending_logs or _pending_samples:
        await asyncio.sleep(interval)
        try:
            await flush()
        except Exception:  # keep flushing later batches; this one is logged with its cause
            logger.exception("write-behind flush failed")


def _write(logs: list[MessageLog], samples: list[MeterValue]) -> None:
    with transaction.atomic():
        MessageLog.objects.bulk_create(logs, batch_size=500)
        _drop_unknown_transactions(samples)
        # A charger replaying queued MeterValues sends the same samples again:
        # the unique constraint on a sample makes the replay a no-op.
        MeterValue.objects.bulk_create(samples, batch_size=500, ignore_conflicts=True)


def _drop_unknown_transactions(samples: list[MeterValue]) -> None:
    """Keep a sample whose transactionId we never issued to its charger, but unlinked."""
    claimed = {s.transaction_id for s in samples if s.transaction_id is not None}
    known = set(Transaction.objects.filter(pk__in=claimed).values_list("pk", "charger_id"))
    for sample in samples:
        if sample.transaction_id is not None and (sample.transaction_id, sample.charger_id) not in known:
            sample.transaction_id = None
