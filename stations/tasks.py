from celery import shared_task
from django.core.management import call_command

from stations.models import Reservation


@shared_task
def prune_message_log():
    """Run daily by Celery beat: keeps the message log within its retention."""
    call_command("prune_message_log")


@shared_task
def expire_reservations():
    """Run every minute by Celery beat: open reservations past their expiry become expired."""
    return Reservation.objects.expire_overdue()
