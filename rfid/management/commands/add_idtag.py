from django.core.management.base import BaseCommand

from rfid.models import IdTag, normalise_id_tag


class Command(BaseCommand):
    help = "Register an idTag (RFID card UID) that may charge."

    def add_arguments(self, parser):
        parser.add_argument("id_tag", metavar="TAG")

    def handle(self, *args, id_tag, **options):
        tag, created = IdTag.objects.update_or_create(
            id_tag=normalise_id_tag(id_tag), defaults={"status": IdTag.Status.ACTIVE}
        )
        verb = "Registered" if created else "Updated"
        self.stdout.write(f"{verb} idTag {tag.id_tag}")
