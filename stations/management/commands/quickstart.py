import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from billing import services as billing_services
from billing.models import Tariff
from rfid import services as rfid_services
from rfid.models import IdTag
from stations.models import Charger

DEMO_CHARGERS = ("DEMO-CP-1", "DEMO-CP-2")
DEMO_ID_TAG = "DEMO-TAG-1"  # a personal card: charges for free
DEMO_PREPAID_TAG = "DEMO-TAG-2"  # the demo driver's prepaid card: sessions move money
DEMO_BALANCE = Decimal("50.00")


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
        self.stdout.write(
            f"Demo chargers {', '.join(DEMO_CHARGERS)} are registered, with idTag {DEMO_ID_TAG} (personal, free) "
            f"and {DEMO_PREPAID_TAG} (Demo Driver's prepaid card) under a demo tariff."
        )
        if not no_serve:
            call_command("serve", host=host, port=port)

    def _ensure_admin(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Sign in at /login/ with your existing admin account.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", password=password, name="Site administrator")
        self.stdout.write(f"Sign in at /login/ as 'admin' with password: {password}")
        self.stdout.write("(shown once; change it with: python manage.py changepassword admin)")

    def _load_demo_site(self) -> None:
        for charge_point_id in DEMO_CHARGERS:
            Charger.objects.get_or_create(
                charge_point_id=charge_point_id, defaults={"name": f"Demo {charge_point_id}"}
            )
        IdTag.objects.get_or_create(id_tag=DEMO_ID_TAG)
        if not Tariff.objects.filter(is_default=True).exists():  # a site's own default tariff is left alone
            Tariff.objects.get_or_create(
                name="Demo tariff",
                defaults={
                    "currency": settings.CSMS_CURRENCY,
                    "price_per_kwh": Decimal("0.35"),
                    "session_fee": Decimal("1.00"),
                    "is_default": True,
                },
            )
        self._load_demo_driver()

    def _load_demo_driver(self) -> None:
        """A driver with a prepaid card and a balance, so that a demo session moves money (once)."""
        driver, _ = get_user_model().objects.get_or_create(
            username="demo-driver", defaults={"name": "Demo Driver", "phone": "+00 000 0000000"}
        )
        card = IdTag.objects.filter(id_tag=DEMO_PREPAID_TAG).first() or rfid_services.issue_card(
            id_tag=DEMO_PREPAID_TAG, mode=IdTag.Mode.PREPAID, owner=driver
        )
        billing_services.top_up(
            card=card,
            amount=DEMO_BALANCE,
            method="cash",
            source="quickstart",
            idempotency_key="quickstart-demo-balance",
        )
