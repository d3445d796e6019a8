"""Where money moves: top-ups, session charges, refunds, staff adjustments.

Every movement is one ledger entry appended through `Account.post`, under a
row lock on the wallet, inside transaction.atomic. Amounts are decided after
the lock is taken so that two sessions ending at once cannot both spend the
same balance.
"""

import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils.translation import gettext as _

from billing import payments, pricing
from billing.models import (
    Account,
    InsufficientBalance,
    LedgerEntry,
    SessionCharge,
    Tariff,
    TariffAssignment,
    TariffPeriod,
)
from billing.money import DEFAULT_CURRENCY, check_top_up_amount, quantize_money
from csms.compiled import CompiledInsert, CompiledQuery
from rfid.models import IdTag, normalise_id_tag
from stations.models import Transaction

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
Kind = LedgerEntry.Kind


class RefusedMovement(ValueError):
    """A movement staff or a script asked for that the rules do not allow; the message says why."""


class KeyAlreadyUsed(RefusedMovement):
    """An idempotency key sent again with another card, amount or method: nothing moved."""


# Tariffs -------------------------------------------------------------------


def tariff_for(*, charger=None, connector_id: int | None = None) -> Tariff | None:
    """The connector's tariff, else the charger's, else the site's default. Every StopTransaction asks
    (and a prepaid card's start): both queries' SQL is written once per process (csms.compiled)."""
    if charger is not None:
        by_connector = {tariff.assigned_to: tariff for tariff in _ASSIGNED_TARIFFS.all(charger.pk)}
        if connector_id in by_connector or None in by_connector:
            return by_connector.get(connector_id) or by_connector[None]
    return _DEFAULT_TARIFF.first()


def _assigned_tariffs(charger_pk: int):
    """The charger's tariffs, each with the connector it is assigned to (`assigned_to`, None: all)."""
    assigned = Tariff.objects.filter(assignments__charger_id=charger_pk)
    return assigned.annotate(assigned_to=F("assignments__connector_id")).order_by()


_ASSIGNED_TARIFFS = CompiledQuery(_assigned_tariffs, -1)
_DEFAULT_TARIFF = CompiledQuery(lambda: Tariff.objects.filter(is_default=True).order_by())  # one at most


def site_currency() -> str:
    default = Tariff.objects.filter(is_default=True).values_list("currency", flat=True).first()
    return default or DEFAULT_CURRENCY


@transaction.atomic
def assign_tariff(*, charger, tariff: Tariff | None, connector_id: int | None = None) -> None:
    """Give the charger (or one connector of it) its own tariff; None takes it away (the charger's,
    else the site's default applies). Sessions priced from now on use it.

    Guards two admins assigning at once: the charger's row is locked, so the second replaces the
    first's assignment instead of failing on the one-tariff-per-connector constraint.
    """
    type(charger).objects.select_for_update().filter(pk=charger.pk).first()
    assignments = TariffAssignment.objects.filter(charger=charger, connector_id=connector_id)
    if tariff is None:
        assignments.delete()
    elif not assignments.update(tariff=tariff):
        TariffAssignment.objects.create(charger=charger, connector_id=connector_id, tariff=tariff)


class TariffConflict(ValueError):
    """A tariff change the database refused (a name taken meanwhile); `field` names what to change."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@transaction.atomic
def save_tariff(*, tariff: Tariff | None = None, periods: list[dict] | None = None, **fields) -> Tariff:
    """Create a tariff (no `tariff`) or change `tariff`'s given fields; `periods`, when given, replace
    its time-of-use windows. Sessions priced from now on use it; those already priced keep their price.

    Making it the default takes the mark from the present default in the same transaction. Guards
    two admins naming two defaults at once: the UPDATE locks the present default's row, and should
    the other's new default still slip in, the one-default constraint refuses this one (a conflict).
    """
    tariff = tariff or Tariff()
    for name, value in fields.items():
        setattr(tariff, name, value)
    try:
        with transaction.atomic():  # a savepoint: the refusal below leaves the outer transaction usable
            if tariff.is_default:
                Tariff.objects.filter(is_default=True).exclude(pk=tariff.pk).update(is_default=False)
            tariff.save()
    except IntegrityError:
        raise _tariff_conflict(tariff) from None
    if periods is not None:
        tariff.periods.all().delete()
        TariffPeriod.objects.bulk_create(TariffPeriod(tariff=tariff, **period) for period in periods)
    return tariff


def _tariff_conflict(tariff: Tariff) -> TariffConflict:
    if Tariff.objects.filter(name=tariff.name).exclude(pk=tariff.pk).exists():
        return TariffConflict(_("A tariff with this name exists already."), field="name")
    return TariffConflict(
        _("Another tariff was made the default at the same moment; send the change again."),
        field="is_default",
    )


# Wallets -------------------------------------------------------------------


def wallet_for_owner(owner) -> Account:
    account, _ = Account.objects.get_or_create(owner=owner, defaults={"currency": site_currency()})
    return account


@transaction.atomic
def wallet_for_card(card: IdTag) -> Account:
    """The wallet that pays for `card`, created on first use.

    Guards two first top-ups of a new anonymous card racing to open two
    wallets: the card row lock lets one create it, the other then sees it.
    """
    locked = IdTag.objects.select_for_update().get(pk=card.pk)
    if locked.account_id is None:
        locked.account = (
            wallet_for_owner(locked.owner)
            if locked.owner_id
            else Account.objects.create(currency=site_currency())
        )
        IdTag.objects.filter(pk=card.pk).update(account=locked.account)
    card.account = locked.account
    return locked.account


def wallet_currency(card: IdTag) -> str:
    return card.account.currency if card.account_id else site_currency()


def balance_of(card: IdTag) -> Decimal:
    return card.account.balance if card.account_id else ZERO


def ledger_total(account: Account) -> Decimal:
    """The sum the cached balance must always equal."""
    return money_sum(account.entries.all(), "amount", account.currency)


def money_sum(queryset, field: str, currency: str) -> Decimal:
    """SUM() of a money column; SQLite adds in binary floating point, so snap back to the minor unit."""
    return quantize_money(queryset.aggregate(total=Sum(field))["total"] or ZERO, currency)


# Movements -----------------------------------------------------------------


@transaction.atomic
def top_up(
    *, card: IdTag, amount: Decimal, method: str, source: str, by=None, idempotency_key=None
) -> LedgerEntry:
    """Credit a prepaid card; the same idempotency key credits once (a double click).

    A key already used for another card, amount or payment method is refused: answering with
    the first receipt would tell the clerk the second card was credited when it was not.
    """
    if idempotency_key and (earlier := _earlier_top_up(idempotency_key, card, amount, method)):
        return earlier
    _check_can_top_up(card)
    wallet = wallet_for_card(card)
    try:
        check_top_up_amount(amount, wallet.currency)
    except ValueError as problem:
        raise RefusedMovement(str(problem)) from None
    Account.objects.select_for_update().get(pk=wallet.pk)  # a racing twin waits here, then finds the key
    if idempotency_key and (earlier := _earlier_top_up(idempotency_key, card, amount, method)):
        return earlier
    return wallet.post(
        kind=Kind.TOP_UP,
        amount=amount,
        source=source,
        created_by=by,
        card=card,
        payment_method=method,
        idempotency_key=idempotency_key,
    )


def _earlier_top_up(idempotency_key: str, card: IdTag, amount: Decimal, method: str) -> LedgerEntry | None:
    earlier = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is None:
        return None
    if (earlier.kind, earlier.card_id, earlier.amount, earlier.payment_method) != (
        Kind.TOP_UP,
        card.pk,
        Decimal(amount),
        method,
    ):
        raise KeyAlreadyUsed(
            _(
                "This top-up request was already made for another card or amount, or paid another way; "
                "nothing was credited now. Start a new top-up."
            )
        )
    return earlier


def api_idempotency_key(*, user, key: str) -> str:
    """The ledger's key for an API client's Idempotency-Key: scoped to the user, so two integrations
    that both count from 1 never answer each other, and apart from the desk's and the sessions' keys.
    Hashed, so a key of any length (up to the API's limit) fits the 64-character column."""
    digest = hashlib.sha256(f"{user.pk}\n{key}".encode()).hexdigest()
    return f"api:{digest[:40]}"  # 160 bits


def _check_can_top_up(card: IdTag) -> None:
    if card.status in (IdTag.Status.BLOCKED, IdTag.Status.LOST):
        raise RefusedMovement(
            _("Card %(id_tag)s is %(status)s: it cannot be topped up.")
            % {"id_tag": card.id_tag, "status": card.status}
        )
    if not card.is_prepaid:
        raise RefusedMovement(
            _("Card %(id_tag)s is a personal card: it charges for free and has no balance.")
            % {"id_tag": card.id_tag}
        )


@transaction.atomic
def adjust(*, account: Account, amount: Decimal, reason: str, by, source: str = "admin") -> LedgerEntry:
    """A staff correction with its reason; it cannot take the balance below zero."""
    if not reason.strip():
        raise RefusedMovement("A staff adjustment needs a reason.")
    if not amount or amount != quantize_money(amount, account.currency):
        raise RefusedMovement("The adjustment must be a non-zero amount in the currency's minor unit.")
    try:
        return account.post(kind=Kind.ADJUSTMENT, amount=amount, source=source, created_by=by, reason=reason)
    except InsufficientBalance as problem:
        raise RefusedMovement(str(problem)) from None


@transaction.atomic
def refund(*, charge: SessionCharge, amount: Decimal, reason: str, by, source: str = "admin") -> LedgerEntry:
    """Give back part or all of what a session took from the wallet, never more."""
    Account.objects.select_for_update().get(pk=charge.account_id)  # two refunds of one session queue here
    refunds = charge.account.entries.filter(kind=Kind.REFUND, transaction=charge.transaction_id)
    refunded = money_sum(refunds, "amount", charge.currency)
    if amount <= 0 or amount != quantize_money(amount, charge.currency):
        raise RefusedMovement("A refund is a positive amount in the currency's minor unit.")
    if refunded + amount > charge.charged:
        raise RefusedMovement(
            f"Only {charge.charged - refunded} {charge.currency} of this session is refundable."
        )
    return charge.account.post(
        kind=Kind.REFUND,
        amount=amount,
        source=source,
        created_by=by,
        reason=reason,
        transaction_id=charge.transaction_id,
        card=charge.card,
    )


# Settling a finished session ---------------------------------------------------


@dataclass(frozen=True)
class _Payer:
    card: IdTag | None
    wallet: Account | None  # None: nobody pays (personal or unknown card)


def settle_transaction(*, transaction: Transaction, just_stopped: bool = False) -> SessionCharge | None:
    """Price a finished session once and take it from the prepaid wallet.

    Returns None when it is not finished or was already settled: a replayed
    StopTransaction, or two stops racing, move no money twice (the unique
    SessionCharge per transaction and the unique session charge entry).
    `just_stopped`: the caller's own database transaction has just stopped the
    session (Transaction.stop, whose conditional UPDATE lets exactly one stop
    through) and its instance, charger included, is the row as that UPDATE
    wrote it. No twin can settle it then, so it is settled in the caller's
    transaction as it stands: nothing read back, no savepoint, no "settled
    already?" query (four round trips on the path a StopTransaction waits on).
    """
    if just_stopped:
        return _settle(transaction, claimed=True)
    try:
        with _atomic():
            return _settle(_read_back(transaction.pk))
    except IntegrityError:
        if SessionCharge.objects.filter(transaction_id=transaction.pk).exists():
            return None  # the racing twin committed first
        raise  # anything else must fail the stop, so that the charger's resent stop bills it


def _atomic():
    # The contract names the keyword `transaction`, which hides django.db.transaction inside.
    return transaction.atomic()


def _read_back(transaction_id: int) -> Transaction:
    return Transaction.objects.select_related("charger").get(pk=transaction_id)


def _settle(session: Transaction, claimed: bool = False) -> SessionCharge | None:
    """`claimed`: this database transaction stopped the session (settle_transaction's just_stopped)."""
    # A QR payment's session (billing.payments), its row locked: no query for an ordinary card's.
    payment = payments.paying_for(session)
    payer = _payer_of(session) if payment is None else _Payer(None, payment.account)
    if payer.wallet is not None:  # lock before reading what exists: the twin waits here
        payer = _Payer(payer.card, Account.objects.select_for_update().get(pk=payer.wallet.pk))
    if session.stopped_at is None:
        return None
    if not claimed and SessionCharge.objects.filter(transaction=session).exists():
        return None
    tariff = tariff_for(charger=session.charger, connector_id=session.connector_id)
    price = _price(session, tariff, payer)
    if payment is not None:  # the driver pays at most what they authorised: the payment's rules
        return payments.settle_session(payment=payment, session=session, tariff=tariff, price=price)
    charge = _record_charge(session, tariff, payer, price)
    if payer.wallet is not None and charge.charged:
        payer.wallet.post(
            kind=Kind.SESSION_CHARGE,
            amount=-charge.charged,
            source=_source(session),
            card=payer.card,
            transaction=session,
            idempotency_key=f"session:{session.pk}",
            allow_negative=True,
        )
    return charge


def _payer_of(session: Transaction) -> _Payer:
    card = _CARD.first(normalise_id_tag(session.id_tag))
    if card is None or not card.is_prepaid:
        return _Payer(card, None)
    return _Payer(card, wallet_for_card(card))


# A StopTransaction's settlement reads the session's card: its SQL written once (csms.compiled).
_CARD = CompiledQuery(lambda id_tag: IdTag.objects.filter(id_tag=id_tag).order_by(), "(probe idTag)")


def _price(session: Transaction, tariff: Tariff | None, payer: _Payer) -> pricing.Price:
    if tariff is None:  # nothing configured: recorded at zero so staff can see it and set a tariff
        # tariff_for found no default tariff either, so the site's currency is the configured one.
        currency = payer.wallet.currency if payer.wallet else DEFAULT_CURRENCY
        tariff = Tariff(name="no tariff configured", currency=currency)
        periods = []
    else:
        periods = list(tariff.periods.all())
    return pricing.price_session(
        tariff=tariff,
        periods=periods,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        readings=meter_readings(session),
    )


def _record_charge(session, tariff, payer: _Payer, price: pricing.Price) -> SessionCharge:
    due = ZERO if payer.wallet is None else price.total
    overdraft = bool(tariff and tariff.allow_overdraft)
    charged = due if overdraft else min(due, max(payer.wallet.balance, ZERO) if payer.wallet else ZERO)
    return create_charge(
        session=session,
        tariff=tariff,
        price=price,
        charged=charged,
        uncollected=due - charged,
        card=payer.card,
        account=payer.wallet,
        free=bool(payer.card and not payer.card.is_prepaid),
    )


def create_charge(*, session, tariff, price: pricing.Price, charged, uncollected, **payer) -> SessionCharge:
    """The one SessionCharge row of a session, from its price; `payer` names the card and/or account.
    Its INSERT is written once (csms.compiled): every StopTransaction waits on it."""
    charge = SessionCharge(
        transaction=session,
        tariff=tariff,
        currency=price.currency,
        energy_wh=price.energy_wh,
        charging_seconds=price.charging_seconds,
        idle_seconds=price.idle_seconds,
        net=price.net,
        tax=price.tax,
        total=price.total,
        charged=charged,
        uncollected=uncollected,
        breakdown=price_lines(price),
        **payer,
    )
    return _INSERT_CHARGE.insert(charge)


_INSERT_CHARGE = CompiledInsert(SessionCharge)


def price_lines(price: pricing.Price) -> list[dict]:
    """A price's lines (and its tax) as the JSON a SessionCharge keeps."""
    lines = [{key: str(value) for key, value in line.items()} for line in price.lines]
    if price.tax:
        lines.append({"label": "Tax", "quantity": "", "unit": "", "unit_price": "", "amount": str(price.tax)})
    return lines


def _source(session: Transaction) -> str:
    return f"ocpp:{session.charger.charge_point_id}"[:64]


def meter_readings(session: Transaction) -> list[pricing.Reading]:
    """The energy register over the session in Wh, bracketed by meterStart and meterStop.

    Samples outside the session or outside [meterStart, meterStop] are
    clamped so that the total is always meterStop - meterStart.
    """
    low, high = session.meter_start, max(session.meter_start, session.meter_stop or session.meter_start)
    readings = [pricing.Reading(session.started_at, Decimal(low))]
    # Plain values, not a model instance per sample: a StopTransaction waits on this (docs/performance.md).
    for timestamp, numeric_value, unit in session.energy_register_samples():
        wh = numeric_value * (1000 if unit.lower() == "kwh" else 1)
        clamped = min(max(wh, readings[-1].wh), Decimal(high))  # a register never runs backwards
        readings.append(pricing.Reading(timestamp, clamped))
    readings.append(pricing.Reading(session.stopped_at, Decimal(high)))
    return readings


# Statements ----------------------------------------------------------------


def ledger_entries(
    *,
    account: int | None = None,
    driver: int | None = None,
    card: str = "",
    kind: str = "",
    since=None,
    until=None,
):
    """Ledger entries of every wallet, oldest first (pages stay put as entries are appended), narrowed to
    a wallet, a driver's wallet, one card (its idTag, as typed), a kind, and created in [since, until)."""
    entries = LedgerEntry.objects.select_related("account", "card", "created_by")
    if account is not None:
        entries = entries.filter(account_id=account)
    if driver is not None:
        entries = entries.filter(account__owner_id=driver)
    if card:
        entries = entries.filter(card__id_tag=normalise_id_tag(card))
    if kind:
        entries = entries.filter(kind=kind)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("created_at", "id")


def statement(account: Account | None) -> list[LedgerEntry]:
    """The wallet's entries, oldest first; each carries the running balance after it."""
    if account is None:
        return []
    return list(account.entries.select_related("card", "created_by", "transaction__charger"))


def consumption(id_tags: list[str]):
    """Sessions of these idTags, newest first, with their charge when priced."""
    return Transaction.objects.of_id_tags(id_tags).select_related("charger", "charge").order_by("-started_at")
