import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the site's first admin account from CSMS_ADMIN_USERNAME (default: admin) and "
        "CSMS_ADMIN_PASSWORD, unless an admin account exists: safe to run at every start (docker compose)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists: none created.")
            return
        username = os.environ.get("CSMS_ADMIN_USERNAME", "admin")
        password = os.environ.get("CSMS_ADMIN_PASSWORD", "")
        if not password:
            raise CommandError(
                "No admin account yet, and CSMS_ADMIN_PASSWORD is not set: set it, or run createsuperuser"
            )
        try:
            validate_password(password, User(username=username))
        except ValidationError as weak:
            raise CommandError(f"CSMS_ADMIN_PASSWORD: {' '.join(weak.messages)}") from None
        User.objects.create_superuser(username, password=password, name="Site administrator")
        self.stdout.write(
            f"Created the admin account {username!r}: sign in at /login/ and change its password."
        )
