from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from stations.models import MessageLog


class Command(BaseCommand):
    help = "Delete OCPP message log entries older than the retention (OCPP_MESSAGE_LOG_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.OCPP_MESSAGE_LOG_RETENTION_DAYS)

    def handle(self, *args, days, **options):
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = MessageLog.objects.filter(created_at__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} message log entries older than {days} days.")
