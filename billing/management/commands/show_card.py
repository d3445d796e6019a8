from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing import services
from billing.money import format_money
from rfid.models import IdTag, normalise_id_tag


class Command(BaseCommand):
    help = "Show a card's status, mode, balance and its ledger entries (times in the site's time zone)."

    def add_arguments(self, parser):
        parser.add_argument("id_tag", metavar="TAG")

    def handle(self, *args, id_tag, **options):
        card = (
            IdTag.objects.select_related("owner", "account").filter(id_tag=normalise_id_tag(id_tag)).first()
        )
        if card is None:
            raise CommandError(f"No card {normalise_id_tag(id_tag)!r}.")
        currency = services.wallet_currency(card)
        self.stdout.write(f"Card {card.id_tag}\n  status: {card.status}\n  mode: {card.mode}")
        self.stdout.write(f"  owner: {card.owner or 'anonymous'}")
        self.stdout.write(
            f"  expires: {timezone.localtime(card.expires_at):%Y-%m-%d %H:%M %Z}"
            if card.expires_at
            else "  expires: never"
        )
        self.stdout.write(f"  balance: {format_money(services.balance_of(card), currency)}")
        entries = services.statement(card.account)
        self.stdout.write(f"Ledger ({len(entries)} entries):")
        for entry in entries:
            self.stdout.write(
                f"  {timezone.localtime(entry.created_at):%Y-%m-%d %H:%M}  {entry.get_kind_display():<16}"
                f"{format_money(entry.amount, currency):>16}  balance {format_money(entry.balance_after, currency)}"
                f"  {entry.attribution}{'  ' + entry.reason if entry.reason else ''}"
            )
