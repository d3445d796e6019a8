"""Who may charge: the one place that decides Authorize and StartTransaction,
and the card work of the front desk (issue, block, replace, find)."""

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from billing import services as billing_services
from billing.money import format_money
from rfid.models import MAX_ID_TAG_LENGTH, AuthorizationRefusal, IdTag, normalise_id_tag
from stations.models import Transaction

Status = IdTag.Status


@dataclass(frozen=True)
class Authorization:
    status: str  # an OCPP AuthorizationStatus: Accepted, Blocked, Expired, Invalid, ConcurrentTx
    expiry_date: datetime | None = None
    parent_id_tag: str = ""
    reason: str = ""  # for staff: chargers only see the status

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def authorize(*, id_tag: str, charger=None, for_stop: bool = False) -> Authorization:
    """Decide whether `id_tag` may charge (at `charger`, when one is given).

    `for_stop` answers the idTagInfo of a StopTransaction: the session being
    stopped is no concurrent one, and its balance no longer needs to cover a start.
    Refusals are recorded with their reason for staff.
    """
    card = find_card_charging_or_not(normalise_id_tag(id_tag))
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
    and its SQL is compiled by the ORM once per process: under a fleet
    starting sessions, building the query each time was half a server's CPU.
    """
    sql, params, probe_at = _card_lookup_sql()
    return next(iter(IdTag.objects.raw(sql, [*params[:probe_at], id_tag, *params[probe_at + 1 :]])), None)


_PROBE = "(probe idTag)"  # stands for the idTag while the query is compiled; never sent


@functools.cache
def _card_lookup_sql() -> tuple[str, tuple, int]:
    charging = Exists(Transaction.objects.of_id_tags([OuterRef("id_tag")]).charging())
    query = IdTag.objects.filter(id_tag=_PROBE).annotate(charging_now=charging).order_by().query
    sql, params = query.sql_with_params()
    return sql, params, params.index(_PROBE)


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
    return Authorization("Blocked", card.expires_at, reason=reason)


def _charging_elsewhere(card: IdTag) -> bool:
    """An accepted session of this card, or of a card it replaced, is still open on some charger."""
    if card.charging_now or card.replaces_id is None:
        return bool(card.charging_now)
    tags = [c.id_tag for c in card.lineage()]
    return Transaction.objects.of_id_tags(tags).charging().exists()


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
        raise CardError("The idTag is empty.")
    if len(id_tag) > MAX_ID_TAG_LENGTH:
        raise CardError(
            f"An idTag is at most {MAX_ID_TAG_LENGTH} characters (OCPP 1.6); {id_tag!r} has {len(id_tag)}."
        )
    if IdTag.objects.filter(id_tag=id_tag).exists():
        raise CardError(f"Card {id_tag} already exists.")
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
        raise CardError(f"Card {old.id_tag} was already replaced by {old.replaced_by.id_tag}.")
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


def find_cards(query: str):
    """Cards by idTag, or by their owner's name, username, phone or email."""
    query = query.strip()
    if not query:
        return IdTag.objects.none()
    return (
        IdTag.objects.select_related("owner", "account")
        .filter(
            Q(id_tag__icontains=normalise_id_tag(query))
            | Q(owner__name__icontains=query)
            | Q(owner__username__icontains=query)
            | Q(owner__phone__icontains=query)
            | Q(owner__email__icontains=query)
            | Q(owner__first_name__icontains=query)
            | Q(owner__last_name__icontains=query)
        )
        .order_by("id_tag")[:50]
    )
