from django.core.management.base import BaseCommand, CommandError

from stations.hashers import KEY_LENGTHS
from stations.models import MAX_CHARGE_POINT_ID_LENGTH, Charger


class Command(BaseCommand):
    help = "Register chargers (or update them) so they may connect over OCPP."

    def add_arguments(self, parser):
        parser.add_argument("charge_point_ids", nargs="+", metavar="CP_ID")
        parser.add_argument(
            "--password", help="HTTP Basic password the chargers must present (stored hashed)"
        )
        parser.add_argument(
            "--security-profile",
            type=int,
            choices=Charger.SecurityProfile.values,
            help="OCPP security profile: 1 ws:// or wss://, 2 wss:// only, 3 wss:// with a client certificate",
        )

    def handle(self, *args, charge_point_ids, password, security_profile, **options):
        for charge_point_id in charge_point_ids:
            if not 0 < len(charge_point_id) <= MAX_CHARGE_POINT_ID_LENGTH:
                raise CommandError(
                    f"{charge_point_id!r}: a charge point id has 1 to {MAX_CHARGE_POINT_ID_LENGTH} characters"
                )
        shortest, longest = KEY_LENGTHS
        if password is not None and len(password) < shortest:
            self.stderr.write(
                f"Warning: a charger password shorter than {shortest} characters is easy to guess; "
                f"OCPP recommends {shortest} to {longest} random characters."
            )
        for charge_point_id in charge_point_ids:
            self._register(charge_point_id, password, security_profile)

    def _register(self, charge_point_id: str, password: str | None, security_profile: int | None) -> None:
        charger, created = Charger.objects.get_or_create(charge_point_id=charge_point_id)
        charger.approval = Charger.Approval.ACCEPTED
        if password is not None:
            charger.set_password(password)
        if security_profile is not None:
            charger.security_profile = security_profile
        charger.save()
        verb = "Registered" if created else "Updated"
        auth = "with a password" if charger.password else "without a password"
        if charger.security_profile != Charger.SecurityProfile.BASIC_AUTH:
            auth += f", wss:// only: security profile {charger.security_profile}"
        self.stdout.write(f"{verb} charger {charge_point_id} ({auth})")
