"""The periodic jobs' work on the charger domain (stations.tasks calls it, csms.scheduler or beat runs it).

Each function may run twice at once, on two workers or two server processes: every change is a
conditional UPDATE on the state it expects, so the second run finds nothing left to do. Each logs
one INFO line saying what it did.

- beat_this_process: this server process is alive (a ServerProcess row, per process).
- clear_gone_processes: chargers held by a process that stopped beating are shown disconnected.
- mark_silent_chargers_offline: chargers unheard for OCPP_OFFLINE_AFTER_HEARTBEATS heartbeat intervals
  are marked offline and their sockets closed.
- flag_open_sessions: sessions left open by a charger that rebooted or is long gone, flagged for staff.
- expire_reservations, prune_message_log: what their names say.
"""

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from stations import dashboard
from stations.models import Charger, MessageLog, Reservation, ServerProcess, Transaction

logger = logging.getLogger(__name__)

MESSAGE_LOG_BATCH = 5_000  # rows per DELETE: each batch a short transaction, never one lock over millions
GONE_ROWS_KEPT = timedelta(days=7)  # a dead process's row, kept for staff to see in the admin a while


# Liveness ----------------------------------------------------------------------------------------------


def beat_this_process() -> str:
    """This server process's beat (csms.scheduler, every OCPP_PROCESS_BEAT_SECONDS): its mailbox address
    (stations.gateway.mailbox) is what its chargers' rows hold; none yet, no socket to vouch for."""
    from stations.gateway import mailbox  # the gateway needs Channels: only a server process beats

    address = mailbox.current_address()
    if not address:
        return "no sockets yet"
    return beat(channel_name=address, open_connection_ids=mailbox.open_connection_ids())


def beat(*, channel_name: str, open_connection_ids: list[str], now: datetime | None = None) -> str:
    """Say that the process at `channel_name` is alive; one UPDATE while all is well.

    A process found gone by mistake (its beat stalled past OCPP_PROCESS_GONE_SECONDS while its sockets
    stayed open) takes back the chargers whose socket it still holds: by connection id, so a charger
    that has reconnected elsewhere meanwhile stays where it is.
    """
    now = now or timezone.now()
    if ServerProcess.objects.filter(channel_name=channel_name, gone_at__isnull=True).update(beat_at=now):
        return "alive"
    process, created = ServerProcess.objects.get_or_create(
        channel_name=channel_name,
        defaults={"host": socket.gethostname()[:255], "pid": os.getpid(), "started_at": now, "beat_at": now},
    )
    if created:
        logger.info("server process %s beats as %s", os.getpid(), channel_name)
        return "started"
    taken_back = _revive(process, open_connection_ids, now)
    logger.warning("server process %s was taken for gone; took back %d chargers", channel_name, taken_back)
    return "revived"


@transaction.atomic
def _revive(process: ServerProcess, open_connection_ids: list[str], now: datetime) -> int:
    ServerProcess.objects.filter(pk=process.pk).update(gone_at=None, beat_at=now)
    taken_back = 0
    for start in range(0, len(open_connection_ids), 500):  # bounded IN lists (SQLite's variable limit)
        taken_back += Charger.objects.filter(
            connection_id__in=open_connection_ids[start : start + 500], is_connected=False
        ).update(is_connected=True, channel_name=process.channel_name)
    return taken_back


def clear_gone_processes(*, now: datetime | None = None) -> dict:
    """Chargers still shown connected through a process that stopped beating: shown disconnected.

    A process is claimed as gone by a conditional UPDATE (ServerProcess.declare_gone); its chargers are
    then cleared by one UPDATE on `channel_name`, so a charger that reconnected to a live process
    (its row now names that process) is untouched. Chargers naming no process at all (killed before
    its first beat) are cleared once connected for longer than OCPP_PROCESS_GONE_SECONDS.
    """
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.OCPP_PROCESS_GONE_SECONDS)
    done = {"processes": 0, "chargers": 0}
    for process in ServerProcess.objects.filter(gone_at__isnull=True, beat_at__lt=silent_since):
        with transaction.atomic():
            if process.declare_gone(silent_since=silent_since, at=now):
                done["processes"] += 1
                done["chargers"] += _disconnect(Q(channel_name=process.channel_name), now)
    known = ServerProcess.objects.filter(gone_at__isnull=True).values("channel_name")
    done["chargers"] += _disconnect(Q(connected_since__lt=silent_since) & ~Q(channel_name__in=known), now)
    ServerProcess.objects.filter(gone_at__lt=now - GONE_ROWS_KEPT).delete()
    logger.info("cleared %d chargers of %d gone server processes", done["chargers"], done["processes"])
    return done


def _disconnect(held: Q, now: datetime) -> int:
    # By primary key with the same condition again: a charger that reconnected since the read (its
    # row names its new process, its connected_since is new) fails the UPDATE's own WHERE.
    charger_ids = list(Charger.objects.filter(held, is_connected=True).values_list("pk", flat=True))
    cleared = Charger.objects.filter(held, pk__in=charger_ids, is_connected=True).update(
        is_connected=False, channel_name="", disconnected_at=now
    )
    dashboard.push(charger_ids=charger_ids)
    return cleared


# Silent chargers -----------------------------------------------------------------------------------------

# What the consumer holding the socket is told (stations.gateway.consumer): close it, code 4001.
SILENT_NOTICE = {"type": "ocpp.silent"}


def offline_after_seconds() -> int:
    """Seconds a connected charger may send nothing before it is marked offline: its heartbeat
    interval (OCPP_HEARTBEAT_INTERVAL, what BootNotification tells it) times OCPP_OFFLINE_AFTER_HEARTBEATS,
    plus OCPP_LAST_SEEN_RESOLUTION: last_seen_at is written at most that often, so the row may be
    that much older than the charger's last frame (a heartbeat's own time is always written)."""
    intervals = settings.OCPP_OFFLINE_AFTER_HEARTBEATS * settings.OCPP_HEARTBEAT_INTERVAL
    return intervals + settings.OCPP_LAST_SEEN_RESOLUTION


def mark_silent_chargers_offline(*, now: datetime | None = None, held_by: str | None = None) -> int:
    """Chargers marked connected that sent nothing for offline_after_seconds(): marked offline, and the
    process holding each socket told to close it, so that no frame arrives on a socket whose row says
    offline; the charger reconnects and is admitted as usual. Returns how many were marked.

    Each charger is claimed by its own conditional UPDATE (Charger.mark_offline_if_silent): a frame
    written, a reconnect or another run in between wins, and only the run that marked it asks for the
    close. `held_by`: only the sockets of the process at that channel address (None: any process's).
    No query on the message path: the job reads what the write-behind writes anyway.
    """
    if not settings.OCPP_OFFLINE_AFTER_HEARTBEATS:
        logger.info("silent chargers are left connected (OCPP_OFFLINE_AFTER_HEARTBEATS=0)")
        return 0
    heard_since = (now or timezone.now()) - timedelta(seconds=offline_after_seconds())
    silent = Charger.objects.filter(is_connected=True, last_seen_at__lt=heard_since)
    if held_by is not None:
        silent = silent.filter(channel_name=held_by)
    marked = [
        charger
        for charger in silent.only("pk", "connection_id", "channel_name")
        if charger.mark_offline_if_silent(connection_id=charger.connection_id, heard_since=heard_since)
    ]
    _close_sockets(marked)
    dashboard.push(charger_ids=[charger.pk for charger in marked])
    logger.info("marked %d chargers offline, unheard for %d s", len(marked), offline_after_seconds())
    return len(marked)


def sockets_closable_here() -> str | None:
    """Whose silent sockets a run in this process can have closed: any process's through a shared
    channel layer (Redis: None); through the in-memory layer (the embedded default, where every server
    process runs the job itself) only this process's own, by its mailbox address ("" before its first
    socket: none). Marking another process's charger offline without closing its socket would leave
    exactly the row this job exists to prevent."""
    if not isinstance(get_channel_layer(), InMemoryChannelLayer):
        return None
    from stations.gateway import mailbox  # the gateway needs Channels' runtime: imported when used

    return mailbox.current_address()


def _close_sockets(chargers: list[Charger]) -> None:
    """Tell each charger's process to close its socket, all at once. A process that is gone has no
    socket to close (mailbox.post: its mailbox is full); a channel layer that fails is logged, and
    the charger's socket then stays open until the charger itself reconnects."""
    from stations.gateway import mailbox

    async def post_all() -> None:
        notices = [mailbox.post(c.channel_name, c.connection_id, SILENT_NOTICE) for c in chargers]
        await asyncio.gather(*notices)

    if not chargers:
        return
    try:
        async_to_sync(post_all)()
    except Exception:
        logger.exception("telling the server processes to close %d silent sockets failed", len(chargers))


# Sessions, reservations, the message log ----------------------------------------------------------------


def flag_open_sessions(*, now: datetime | None = None) -> dict:
    """Flag open sessions for staff: the charger booted after the session was recorded (it rebooted
    mid-session and its stop may never come), or the charger has been disconnected for longer than
    OCPP_OPEN_SESSION_STALE_HOURS. Never closed, never priced: only the charger's stop knows the meter.

    Compared with the session's `created_at` (our clock), not its `started_at` (the charger's clock,
    which may be wrong by hours after a reboot).
    """
    now = now or timezone.now()
    open_sessions = Transaction.objects.filter(stopped_at__isnull=True, flagged_at__isnull=True)
    rebooted = open_sessions.filter(charger__last_boot_at__gt=F("created_at"))
    gone_since = now - timedelta(hours=settings.OCPP_OPEN_SESSION_STALE_HOURS)
    gone = open_sessions.filter(
        charger__is_connected=False, charger__disconnected_at__lt=gone_since, created_at__lt=gone_since
    )
    done = {
        Transaction.Flag.CHARGER_REBOOTED: _flag(rebooted, Transaction.Flag.CHARGER_REBOOTED, now),
        Transaction.Flag.CHARGER_GONE: _flag(gone, Transaction.Flag.CHARGER_GONE, now),
    }
    logger.info(
        "flagged %d open sessions of rebooted chargers, %d of chargers gone for %d h",
        done[Transaction.Flag.CHARGER_REBOOTED],
        done[Transaction.Flag.CHARGER_GONE],
        settings.OCPP_OPEN_SESSION_STALE_HOURS,
    )
    return {str(reason): count for reason, count in done.items()}


def _flag(sessions, reason: str, now: datetime) -> int:
    # The candidates by primary key, then a one-table conditional UPDATE: its WHERE is re-checked on
    # the row itself, so a concurrent run or a StopTransaction committed meanwhile wins.
    found = list(sessions.values_list("pk", "charger_id"))
    flagged = Transaction.objects.filter(pk__in=[pk for pk, _ in found]).flag(reason=reason, at=now)
    if flagged:
        dashboard.push(charger_ids=sorted({charger_id for _, charger_id in found}))
    return flagged


def expire_reservations(*, now: datetime | None = None) -> int:
    """Open reservations past their expiry become expired (Reservation.objects.expire_overdue)."""
    expired = Reservation.objects.expire_overdue(now=now)
    logger.info("expired %d reservations", expired)
    return expired


def prune_message_log(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete message-log rows older than the retention (OCPP_MESSAGE_LOG_RETENTION_DAYS), in batches
    of MESSAGE_LOG_BATCH, each its own short transaction: the chargers' writes never wait long for it,
    and two runs at once only split the work (a row is deleted once, whoever gets there)."""
    days = settings.OCPP_MESSAGE_LOG_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = MessageLog.objects.filter(created_at__lt=cutoff).order_by()
    deleted = 0
    while batch := list(old.values_list("pk", flat=True)[:MESSAGE_LOG_BATCH]):
        deleted += MessageLog.objects.filter(pk__in=batch).delete()[0]
    logger.info("pruned %d message log entries older than %d days", deleted, days)
    return deleted
