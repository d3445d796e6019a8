from django.core.management.base import BaseCommand, CommandError

from billing import services
from billing.models import LedgerEntry
from billing.money import parse_amount
from rfid.models import IdTag, normalise_id_tag


class Command(BaseCommand):
    help = "Credit a prepaid card's balance (a ledger entry attributed to the command line)."

    def add_arguments(self, parser):
        parser.add_argument("id_tag", metavar="TAG")
        parser.add_argument("amount", metavar="AMOUNT", help="positive, e.g. 20 or 12.50")
        parser.add_argument("--method", choices=LedgerEntry.PaymentMethod.values, default="other")

    def handle(self, *args, id_tag, amount, method, **options):
        card = IdTag.objects.filter(id_tag=normalise_id_tag(id_tag)).first()
        if card is None:
            raise CommandError(f"No card {normalise_id_tag(id_tag)!r}.")
        try:
            value = parse_amount(amount, services.wallet_currency(card))
            entry = services.top_up(card=card, amount=value, method=method, source="cli")
        except ValueError as problem:  # RefusedMovement is one
            raise CommandError(str(problem)) from None
        self.stdout.write(f"Credited {entry} to {card.id_tag}; balance {entry.account.balance_display}")
