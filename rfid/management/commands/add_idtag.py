from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing import services as billing_services
from rfid.forms import end_of_day
from rfid.models import MAX_ID_TAG_LENGTH, IdTag, normalise_id_tag


class Command(BaseCommand):
    help = "Register an idTag (RFID card UID) that may charge, or update an existing one."

    def add_arguments(self, parser):
        parser.add_argument("id_tag", metavar="TAG")
        parser.add_argument(
            "--mode",
            choices=IdTag.Mode.values,
            help="personal (free; the default for a new card) or prepaid (pays from a balance)",
        )
        parser.add_argument("--status", choices=IdTag.Status.values, default=IdTag.Status.ACTIVE)
        parser.add_argument(
            "--expires", metavar="YYYY-MM-DD", help="valid through this day, in the site's time zone"
        )
        parser.add_argument("--owner", metavar="USERNAME", help="the driver whose wallet pays for this card")

    def handle(self, *args, id_tag, mode, status, expires, owner, **options):
        id_tag = normalise_id_tag(id_tag)
        if not id_tag or len(id_tag) > MAX_ID_TAG_LENGTH:
            raise CommandError(
                f"An idTag has 1 to {MAX_ID_TAG_LENGTH} characters (OCPP 1.6); {id_tag!r} has {len(id_tag)}."
            )
        fields = {"status": status, **self._expiry(expires), **self._owner(owner)}
        if mode:  # an existing card keeps its mode unless asked: re-running must not make a prepaid card free
            fields["mode"] = mode
        with transaction.atomic():
            tag, created = IdTag.objects.update_or_create(id_tag=id_tag, defaults=fields)
            self._check_wallet(tag)
        verb = "Registered" if created else "Updated"
        self.stdout.write(f"{verb} idTag {tag.id_tag} ({tag.mode}, {tag.status})")

    def _expiry(self, expires: str | None) -> dict:
        if expires is None:
            return {}
        try:
            return {"expires_at": end_of_day(date.fromisoformat(expires))}
        except ValueError:
            raise CommandError(f"--expires {expires!r} is not a date like 2027-12-31.") from None

    def _owner(self, username: str | None) -> dict:
        if username is None:
            return {}
        try:
            return {"owner": get_user_model().objects.get(username=username)}
        except get_user_model().DoesNotExist:
            raise CommandError(
                f"No user {username!r}: create the driver first (createsuperuser or the desk)."
            ) from None

    def _check_wallet(self, tag: IdTag) -> None:
        """A card given to an owner pays from the owner's wallet; an own balance must not vanish."""
        if tag.owner_id and tag.account_id and tag.account.owner_id != tag.owner_id:
            if tag.account.balance:
                raise CommandError(
                    f"Card {tag.id_tag} holds {tag.account.balance_display} of its own; "
                    "refund or move it before giving the card an owner."
                )
            IdTag.objects.filter(pk=tag.pk).update(account=billing_services.wallet_for_owner(tag.owner))
        elif tag.is_prepaid:
            billing_services.wallet_for_card(tag)
