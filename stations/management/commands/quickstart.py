import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from rfid.models import IdTag
from stations.models import Charger

DEMO_CHARGERS = ("DEMO-CP-1", "DEMO-CP-2")
DEMO_ID_TAG = "DEMO-TAG-1"


class Command(BaseCommand):
    help = "Prepare the embedded default (database, admin account, demo site) and serve it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="prepare only")

    def handle(self, *args, host, port, no_serve, **options):
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        self._load_demo_site()
        self.stdout.write(f"Demo chargers {', '.join(DEMO_CHARGERS)} and idTag {DEMO_ID_TAG} are registered.")
        if not no_serve:
            call_command("serve", host=host, port=port)

    def _ensure_admin(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Sign in at /admin/ with your existing admin account.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", password=password, name="Site administrator")
        self.stdout.write(f"Sign in at /admin/ as 'admin' with password: {password}")
        self.stdout.write("(shown once; change it with: python manage.py changepassword admin)")

    def _load_demo_site(self) -> None:
        for charge_point_id in DEMO_CHARGERS:
            Charger.objects.get_or_create(
                charge_point_id=charge_point_id, defaults={"name": f"Demo {charge_point_id}"}
            )
        IdTag.objects.get_or_create(id_tag=DEMO_ID_TAG)
