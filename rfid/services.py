"""Who may charge: the one place that decides Authorize and StartTransaction,
the card work of the front desk (issue, block, replace), and finding drivers and cards."""

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import Contains
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from accounts.models import PHONE_SEPARATORS, phone_without_separators
from billing import payments as billing_payments
from billing import services as billing_services
from billing.models import Account, LedgerEntry
from billing.money import format_money
from csms.compiled import CompiledQuery
from rfid.models import MAX_ID_TAG_LENGTH, AuthorizationRefusal, IdTag, normalise_id_tag
from stations.models import Transaction

Status = IdTag.Status


@dataclass(frozen=True)
class Authorization:
    status: str  # an OCPP AuthorizationStatus: Accepted, Blocked, Expired, Invalid, ConcurrentTx
    expiry_date: datetime | None = None
    parent_id_tag: str = ""
    reason: str = ""  # for staff: chargers only see the status
    # A prepaid card short of balance: 1.6 has only Blocked for it, 2.0.1 says NoCredit (stations.payloads).
    no_credit: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def authorize(
    *,
    id_tag: str,
    charger=None,
    for_stop: bool = False,
    connector_id: int | None = None,
    card_read: IdTag | None = None,
) -> Authorization:
    """Decide whether `id_tag` may charge (at `charger`, when one is given).

    `for_stop` answers the idTagInfo of a StopTransaction: the session being
    stopped is no concurrent one, and its balance no longer needs to cover a start.
    `card_read`, for a stop only: the card of `id_tag` as the stop's own settlement
    has just read it in the same database transaction, so it is not read again.
    Refusals are recorded with their reason for staff. A QR payment's idTag (its prefix
    tells, without a query) is decided by billing.payments, at its charger and connector only.
    """
    if charger is not None and billing_payments.is_payment_id_tag(id_tag):
        paid = billing_payments.authorize_id_tag(
            id_tag=normalise_id_tag(id_tag), charger=charger, connector_id=connector_id, for_stop=for_stop
        )
        if paid is not None:
            return paid
    if card_read is not None and not for_stop:
        raise ValueError("card_read decides a stop only: a start must know whether the card is charging")
    card = card_read or find_card_charging_or_not(normalise_id_tag(id_tag))
    decision = _decide(card, charger, for_stop)
    if not decision.accepted:
        AuthorizationRefusal.objects.create(
            id_tag=normalise_id_tag(id_tag)[:MAX_ID_TAG_LENGTH],
            card=card,
            charger=charger,
            status=decision.status,
            reason=decision.reason[:200],
        )
    return decision


def find_card_charging_or_not(id_tag: str) -> IdTag | None:
    """The card of a normalised idTag, with `charging_now`: one of its accepted sessions is open.

    Every Authorize and StartTransaction asks this, so it is one round trip,
    and its SQL is compiled by the ORM once per process (csms.compiled): under a
    fleet starting sessions, building the query each time was half a server's CPU.
    """
    return _CARD_CHARGING_OR_NOT.first(id_tag)


def _holding_the_card(sessions):
    """The accepted open sessions that make another start of their card ConcurrentTx: not those whose
    charger has booted since (flagged CHARGER_REBOOTED): a reboot ended them, whether or not the
    charger still sends their StopTransaction (OCTT TC_032_1), and the driver may start again."""
    return sessions.charging().exclude(flag_reason=Transaction.Flag.CHARGER_REBOOTED)


def _card_charging_or_not(id_tag: str):
    charging = Exists(_holding_the_card(Transaction.objects.of_id_tags([OuterRef("id_tag")])))
    return IdTag.objects.filter(id_tag=id_tag).annotate(charging_now=charging).order_by()


_CARD_CHARGING_OR_NOT = CompiledQuery(_card_charging_or_not, "(probe idTag)")


def _decide(card: IdTag | None, charger, for_stop: bool) -> Authorization:
    if charger is not None and not charger.is_approved:
        return Authorization("Invalid", reason="charger not approved")
    if card is None:
        return Authorization("Invalid", reason="unknown idTag")
    check_balance = card.is_prepaid and not for_stop
    # Only a prepaid balance needs the tariff: two queries a personal card's start does without.
    tariff = billing_services.tariff_for(charger=charger) if check_balance else None
    refusal = card_refusal(card, tariff, check_balance=check_balance)
    if refusal:
        return refusal
    if not for_stop and _charging_elsewhere(card):
        return Authorization("ConcurrentTx", card.expires_at, reason="already charging in another session")
    return Authorization("Accepted", card.expires_at, card.parent_id_tag)


def card_refusal(card: IdTag, tariff, check_balance: bool = True) -> Authorization | None:
    """What is wrong with the card itself, wherever it is used; None when nothing is."""
    if card.status in (Status.BLOCKED, Status.LOST):
        return Authorization("Blocked", reason=f"card {card.status}")
    if card.is_expired:
        return Authorization("Expired", card.expires_at, reason="card expired")
    if check_balance and card.is_prepaid:
        return _balance_refusal(card, tariff)
    return None


def _balance_refusal(card: IdTag, tariff) -> Authorization | None:
    """A prepaid card needs the tariff's minimum to start, and something at all without an overdraft."""
    balance, minimum = billing_services.balance_of(card), tariff.min_balance_to_start if tariff else 0
    needs_something = not (tariff and tariff.allow_overdraft)
    if balance >= minimum and (balance > 0 or not needs_something):
        return None
    currency = card.account.currency if card.account_id else billing_services.site_currency()
    if balance < minimum:
        reason = (
            f"insufficient balance: {format_money(balance, currency)}, "
            f"the minimum to start is {format_money(minimum, currency)}"
        )
    else:  # the minimum is met (it is zero) but nothing is left, and the tariff allows no overdraft
        reason = f"no balance left ({format_money(balance, currency)}): top up the card to charge"
    return Authorization("Blocked", card.expires_at, reason=reason, no_credit=True)


def _charging_elsewhere(card: IdTag) -> bool:
    """An accepted session of this card, or of a card it replaced, is still open on some charger."""
    if card.charging_now or card.replaces_id is None:
        return bool(card.charging_now)
    tags = [c.id_tag for c in card.lineage()]
    return _holding_the_card(Transaction.objects.of_id_tags(tags)).exists()


def parent_id_tag_of(id_tag: str) -> str:
    """The parent idTag (the group) of a registered card; empty for none or an unknown card."""
    card = IdTag.objects.filter(id_tag=normalise_id_tag(id_tag)).values_list("parent_id_tag", flat=True)
    return card.first() or ""


def local_list_decisions() -> list[tuple[str, Authorization]]:
    """Every card with the decision a charger's local list keeps for it (no session context)."""
    tariff = billing_services.tariff_for()
    return [
        (
            card.id_tag,
            card_refusal(card, tariff) or Authorization("Accepted", card.expires_at, card.parent_id_tag),
        )
        for card in IdTag.objects.select_related("account").order_by("id_tag")
    ]


# The front desk's card work -------------------------------------------------


class CardError(ValueError):
    """A card request that cannot be done; the message says why, for a person."""


def check_new_id_tag(raw: str) -> str:
    id_tag = normalise_id_tag(raw)
    if not id_tag:
        raise CardError(_("The idTag is empty."))
    if len(id_tag) > MAX_ID_TAG_LENGTH:
        raise CardError(
            _("An idTag is at most %(limit)d characters (OCPP 1.6); %(id_tag)s has %(length)d.")
            % {"limit": MAX_ID_TAG_LENGTH, "id_tag": id_tag, "length": len(id_tag)}
        )
    if IdTag.objects.filter(id_tag=id_tag).exists():
        raise CardError(_("Card %(id_tag)s already exists.") % {"id_tag": id_tag})
    if billing_payments.is_payment_id_tag(id_tag):
        raise CardError(
            _("idTags starting with %(prefix)s are kept for payments by QR code.")
            % {"prefix": billing_payments.ID_TAG_PREFIX}
        )
    return id_tag


@transaction.atomic
def issue_card(*, id_tag: str, mode: str, owner=None, expires_at=None, parent_id_tag: str = "") -> IdTag:
    card = IdTag.objects.create(
        id_tag=check_new_id_tag(id_tag),
        mode=mode,
        owner=owner,
        expires_at=expires_at,
        parent_id_tag=parent_id_tag,
    )
    billing_services.wallet_for_card(card)
    return card


@transaction.atomic
def replace_card(*, card: IdTag, new_id_tag: str, reason: str = "lost") -> IdTag:
    """A new card in place of a lost one: same owner, mode, wallet (so balance) and history."""
    new_id_tag = check_new_id_tag(new_id_tag)
    old = IdTag.objects.select_for_update().get(pk=card.pk)  # two clerks replacing one card: one wins
    if hasattr(old, "replaced_by"):
        raise CardError(
            _("Card %(old)s was already replaced by %(new)s.")
            % {"old": old.id_tag, "new": old.replaced_by.id_tag}
        )
    wallet = billing_services.wallet_for_card(old)
    old.set_status(Status.LOST, f"replaced by {new_id_tag}: {reason}")
    return IdTag.objects.create(
        id_tag=new_id_tag,
        owner=old.owner,
        mode=old.mode,
        account=wallet,
        expires_at=old.expires_at,
        parent_id_tag=old.parent_id_tag,
        replaces=old,
    )


# Finding drivers and cards (the staff's lists, and the desk's one search box) --------------


class CardState(models.TextChoices):
    """What staff read of a card: its status, with a passed expiry and a replacement folded in."""

    ACTIVE = "active", pgettext_lazy("card state", "active")
    BLOCKED = "blocked", pgettext_lazy("card state", "blocked")
    LOST = "lost", pgettext_lazy("card state", "lost")
    EXPIRED = "expired", pgettext_lazy("card state", "expired")
    REPLACED = "replaced", pgettext_lazy("card state", "replaced")


def cards_with_state():
    """Cards with their owner and wallet, each annotated `state` (a CardState), in one query."""
    state = Case(
        When(replaced_by__isnull=False, then=Value(CardState.REPLACED.value)),
        When(status__in=[Status.BLOCKED, Status.LOST], then=F("status")),
        When(
            Q(status=Status.EXPIRED) | Q(expires_at__lte=timezone.now()), then=Value(CardState.EXPIRED.value)
        ),
        default=Value(CardState.ACTIVE.value),
        output_field=models.CharField(),
    )
    return IdTag.objects.select_related("owner", "account").annotate(state=state)


def cards_listed(*, query: str = "", state: str = "", mode: str = "", owner: int | None = None):
    """Cards by idTag or by their owner (name, username, email, phone), narrowed by state, mode and owner."""
    cards = cards_with_state() if owner is None else cards_with_state().filter(owner_id=owner)
    if query.strip():
        matches_owner = person_matches(query.strip(), path="owner__")
        cards = cards.filter(Q(id_tag__icontains=normalise_id_tag(query)) | matches_owner)
    if state:
        cards = cards.filter(state=state)
    if mode:
        cards = cards.filter(mode=mode)
    return cards.order_by("id_tag")


def cards_for_api(cards=None):
    """Cards (all, or the `cards` given) with what the API shows of each beyond `state`: the card it
    replaced, `replaced_by_id_tag`, and `wallet_currency` (the site's before a wallet exists)."""
    cards = cards_with_state() if cards is None else cards
    return cards.select_related("replaces").annotate(
        replaced_by_id_tag=F("replaced_by__id_tag"),
        wallet_currency=Coalesce(F("account__currency"), Value(billing_services.site_currency())),
    )


def driver_or_none(pk: int):
    """The driver of this id; None for nobody, or for a staff account (never a card's owner)."""
    return get_user_model().objects.drivers().filter(pk=pk).first()


def drivers_with_cards():
    """Drivers with their wallet and `cards_shown`: every card of theirs with its `state`, by idTag."""
    cards = models.Prefetch("cards", queryset=cards_with_state().order_by("id_tag"), to_attr="cards_shown")
    return get_user_model().objects.drivers().select_related("wallet").prefetch_related(cards)


def drivers_listed(*, query: str = ""):
    """Drivers by name, username, email, phone or one of their cards' idTags, with what the list shows:
    `card_count`, `balance` and `currency` (None without a wallet) and `last_session_at`."""
    drivers = get_user_model().objects.drivers()
    if query.strip():
        by_card = IdTag.objects.filter(id_tag__icontains=normalise_id_tag(query)).values("owner_id")
        drivers = drivers.filter(person_matches(query.strip()) | Q(pk__in=by_card))
    # Subqueries rather than a join and GROUP BY: one row per driver, however many cards and sessions.
    cards = IdTag.objects.filter(owner=OuterRef("pk")).order_by().values("owner").annotate(n=Count("pk"))
    their_tags = IdTag.objects.filter(owner=OuterRef(OuterRef("pk"))).values("id_tag")
    last_session = Transaction.objects.filter(id_tag__in=their_tags).order_by("-started_at")
    return drivers.annotate(
        card_count=Coalesce(Subquery(cards.values("n")), 0),
        balance=F("wallet__balance"),
        currency=F("wallet__currency"),
        last_session_at=Subquery(last_session.values("started_at")[:1]),
    ).order_by("name", "username", "pk")


MIN_PHONE_DIGITS = 4  # fewer digits would match half the phone book
MIN_NATIONAL_DIGITS = 6  # what must remain of an international number once its country code is cut


def phone_search_digits(query: str) -> list[str]:
    """The digit strings to look for in phone numbers stored as typed; none when `query` is no number.

    Punctuation and a leading trunk or international prefix (0, 00) are dropped, and a number typed
    with +country also looks for its national part, so "+49 170 5550101", "0170-555 0101" and
    "1705550101" all find "+49 170 5550101", and the first one also finds "0170 5550101".
    """
    if not query or any(mark not in string.digits + PHONE_SEPARATORS + "+" for mark in query):
        return []
    international = query.lstrip().startswith(("+", "00"))
    digits = "".join(mark for mark in query if mark.isdigit()).lstrip("0")
    if len(digits) < MIN_PHONE_DIGITS:
        return []
    national = [digits[cut:] for cut in (1, 2, 3) if len(digits) - cut >= MIN_NATIONAL_DIGITS]
    return [digits, *national] if international else [digits]


def person_matches(query: str, path: str = "") -> Q:
    """A person whose name, username, email or phone (compared digit by digit) holds `query`."""
    matches = Q()
    for field in ("name", "username", "first_name", "last_name", "email"):
        matches |= Q(**{f"{path}{field}__icontains": query})
    for digits in phone_search_digits(query):
        matches |= Q(Contains(phone_without_separators(f"{path}phone", keep_plus=False), Value(digits)))
    return matches


def latest_entries(*, account: Account | None, limit: int) -> list[LedgerEntry]:
    """The wallet's last `limit` entries, oldest first: each carries the balance right after it."""
    if account is None:
        return []
    entries = account.entries.select_related("card", "created_by", "transaction__charger")
    return list(reversed(entries.order_by("-created_at", "-id")[:limit]))


def refusals_of(*, id_tags: list[str], limit: int) -> list[AuthorizationRefusal]:
    """The latest refusals of these idTags, also those from before the card was registered."""
    refusals = AuthorizationRefusal.objects.filter(id_tag__in=id_tags).select_related("charger")
    return list(refusals[:limit])


# The same top-up twice --------------------------------------------------------

# The same amount on the same card again within this time asks the clerk to confirm: after a
# top-up, Back and a refilled form credited it twice.
REPEAT_TOP_UP_WINDOW = timedelta(minutes=10)


def recent_same_top_up(
    *, card: IdTag, amount: Decimal, other_than_key: str | None = None
) -> LedgerEntry | None:
    """The latest top-up of `amount` on `card` within REPEAT_TOP_UP_WINDOW, `None` if there is none.

    The entry the request `other_than_key` made does not count: a double click of that very form
    is the idempotency key's business (it credits once and shows the same receipt), not a repeat.
    """
    entries = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.TOP_UP,
        card=card,
        amount=amount,
        created_at__gte=timezone.now() - REPEAT_TOP_UP_WINDOW,
    )
    if other_than_key:
        entries = entries.exclude(idempotency_key=other_than_key)
    return entries.select_related("created_by", "account").order_by("-created_at", "-id").first()
