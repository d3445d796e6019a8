from celery import shared_task
from django.core.management import call_command


@shared_task
def prune_message_log():
    """Run daily by Celery beat: keeps the message log within its retention."""
    call_command("prune_message_log")
