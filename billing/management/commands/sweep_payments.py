from django.core.management.base import BaseCommand

from billing import tasks


class Command(BaseCommand):
    help = (
        "Finish payments left half-way (a restart, a lost webhook, a failed capture): what the server "
        "process and Celery beat run every few seconds, once, e.g. from cron or after a restore."
    )

    def handle(self, *args, **options):
        done = tasks.sweep()
        self.stdout.write(", ".join(f"{step}: {count}" for step, count in done.items()))
