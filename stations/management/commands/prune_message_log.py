from django.conf import settings
from django.core.management.base import BaseCommand

from stations import housekeeping


class Command(BaseCommand):
    help = "Delete OCPP message log entries older than the retention (OCPP_MESSAGE_LOG_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.OCPP_MESSAGE_LOG_RETENTION_DAYS)

    def handle(self, *args, days, **options):
        deleted = housekeeping.prune_message_log(days=days)
        self.stdout.write(f"Deleted {deleted} message log entries older than {days} days.")
