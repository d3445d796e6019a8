"""The charger domain's periodic jobs: thin Celery tasks over stations.housekeeping.

Celery beat runs them with Redis; on the embedded default every server process runs them itself
(csms.scheduler), on the same schedule (csms.settings.CELERY_BEAT_SCHEDULE).
"""

from celery import shared_task

from stations import housekeeping, reports


@shared_task
def prune_message_log() -> int:
    """Daily: the message log kept within OCPP_MESSAGE_LOG_RETENTION_DAYS."""
    return housekeeping.prune_message_log()


@shared_task
def expire_reservations() -> int:
    """Every minute: open reservations past their expiry become expired."""
    return housekeeping.expire_reservations()


@shared_task
def flag_open_sessions() -> dict:
    """Every minute: sessions left open by a rebooted or long-gone charger, flagged for staff."""
    return housekeeping.flag_open_sessions()


@shared_task
def clear_gone_processes() -> dict:
    """Every ten seconds: chargers held by a server process that stopped beating, shown disconnected."""
    return housekeeping.clear_gone_processes()


@shared_task
def mark_silent_chargers_offline() -> int:
    """Every heartbeat interval (at most a minute): chargers unheard for OCPP_OFFLINE_AFTER_HEARTBEATS
    intervals marked offline and their sockets closed, wherever this run can reach them."""
    return housekeeping.mark_silent_chargers_offline(held_by=housekeeping.sockets_closable_here())


@shared_task
def store_charger_days() -> int:
    """Every minute: each charger's days that are over, worked out once for the reports."""
    return reports.store_charger_days()
