"""A driver tops up their wallet online, through the card gateway: the services behind /wallet/top-up/ and
POST /api/v1/wallet/top-ups/.

    start_top_up ─▶ OnlineTopUp pending, and the gateway's checkout (money taken when paid, never held)
    the gateway's signed webhook (billing.webhooks), or the sweep asking it for a late one ─▶ reconcile:
        money taken ─▶ credit: one TOP_UP ledger entry keyed by the gateway's payment id, and
        pending ─▶ credited, in one transaction
        checkout expired or closed unpaid ─▶ expired; the payment cancelled ─▶ failed

The browser coming back from the gateway proves nothing: the top-up's page only shows what is
stored. What the gateway says is asked of it by the checkout we stored, never read from an event,
so events late, repeated, out of order or for a checkout we never opened all end the same.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import services as billing_services
from billing.gateways import gateway_named, top_up_gateway
from billing.gateways.base import Confirmation, Gateway, GatewayError
from billing.models import LedgerEntry, OnlineTopUp
from billing.money import format_money, minor_unit, quantize_money

logger = logging.getLogger(__name__)

State = OnlineTopUp.State
CONFIRMATION_CHECK_AFTER = timedelta(seconds=60)  # a checkout whose webhook is late is asked about
RECENT_SHOWN = 5
LEDGER_KEY_LENGTH = LedgerEntry._meta.get_field("idempotency_key").max_length


class TopUpError(Exception):
    """A top-up refused before any money moved; `message` is for the driver (translated)."""

    status = 400
    field = ""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidTopUp(TopUpError):
    """Bad input, naming the field (amount, idempotency_key): 400."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


class TopUpsNotOffered(TopUpError):
    """No card gateway that tops up wallets is configured on this site: 404."""

    status = 404


class GatewayUnavailable(TopUpError):
    """The gateway could not open a checkout; nothing was taken: 503."""

    status = 503


# Why a top-up ended without money, stored as a code and shown in the driver's language.
FAILURES = {
    "checkout_expired": gettext_lazy("The card payment was not completed in time. Nothing was charged."),
    "gateway_cancelled": gettext_lazy("The card payment was cancelled by the payment provider."),
    "gateway_unavailable": gettext_lazy("The card payment could not be opened. Nothing was charged."),
    "amount_mismatch": gettext_lazy(
        "The payment provider confirmed another amount than you chose, so nothing was added. "
        "The site's staff will sort it out with you."
    ),
}


def failure_text(top_up: OnlineTopUp) -> str:
    return str(FAILURES.get(top_up.failure_reason, top_up.failure_reason))


# What the page offers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopUpOffer:
    currency: str
    balance: Decimal
    presets: list[Decimal]
    min_amount: Decimal
    max_amount: Decimal


def online_top_up_offered() -> bool:
    return top_up_gateway() is not None


def top_up_offer(*, driver) -> TopUpOffer:
    """The driver's wallet (made on first use) and the amounts the page offers."""
    wallet = billing_services.wallet_for_owner(driver)
    low, high = settings.WALLET_TOPUP_MIN_AMOUNT, settings.WALLET_TOPUP_MAX_AMOUNT
    return TopUpOffer(
        currency=wallet.currency,
        balance=wallet.balance,
        presets=[preset for preset in settings.WALLET_TOPUP_PRESETS if low <= preset <= high],
        min_amount=low,
        max_amount=high,
    )


def recent_top_ups(*, driver) -> list[OnlineTopUp]:
    return list(OnlineTopUp.objects.filter(driver=driver)[:RECENT_SHOWN])


def top_up_for_driver(*, driver, token: str = "", top_up_id: int | None = None) -> OnlineTopUp | None:
    """The driver's own top-up by its token or id; None for anyone else's (answered 404 alike)."""
    if driver is None or not driver.is_authenticated or not (token or top_up_id):
        return None
    found = OnlineTopUp.objects.select_related("account").filter(driver=driver)
    return found.filter(token=token).first() if token else found.filter(pk=top_up_id).first()


def status_page_url(top_up: OnlineTopUp, *, return_to: str = "") -> str:
    """Where the gateway sends the driver back: the top-up's own page (which proves nothing by itself)."""
    query = f"?{urlencode({'next': return_to})}" if return_to else ""
    return f"{settings.PUBLIC_BASE_URL}/wallet/top-up/{top_up.token}/{query}"


# Starting one -----------------------------------------------------------------------------------------


def start_top_up(
    *, driver, amount, idempotency_key: str | None = None, source: str = "web", return_to: str = ""
) -> OnlineTopUp:
    """Open the gateway's checkout for `amount` in the driver's wallet currency; nothing is credited yet.

    The same idempotency key again returns the first top-up (a double click, a reload). Raises
    TopUpsNotOffered (404), InvalidTopUp (400), GatewayUnavailable (503).
    """
    gateway = top_up_gateway()
    if gateway is None:
        raise TopUpsNotOffered(_("Online top-ups are not offered on this site."))
    if idempotency_key and (earlier := _earlier(idempotency_key, driver, amount)):
        return earlier
    wallet = billing_services.wallet_for_owner(driver)
    _check_amount(amount, wallet.currency)
    top_up, created = _insert(
        driver=driver, account=wallet, gateway=gateway.name, currency=wallet.currency, amount=amount,
        idempotency_key=idempotency_key or None, source=source,
    )  # fmt: skip
    if not created:
        return top_up  # a twin of this very request (the same idempotency key) made it first
    return _open_checkout(top_up, gateway, return_to)


def _earlier(key: str, driver, amount) -> OnlineTopUp | None:
    """The top-up this idempotency key already made; refused when it was made for something else."""
    earlier = OnlineTopUp.objects.filter(idempotency_key=key).first()
    if earlier is not None and (earlier.driver_id != driver.pk or earlier.amount != amount):
        raise InvalidTopUp("idempotency_key", _("This top-up form was already used. Reload the page."))
    return earlier


def _check_amount(amount, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidTopUp("amount", _("Enter an amount of money, e.g. 20.00."))
    if amount != quantize_money(amount, currency):
        raise InvalidTopUp(
            "amount",
            _("%(currency)s amounts have no smaller coin than %(coin)s.")
            % {"currency": currency, "coin": minor_unit(currency)},
        )
    low, high = settings.WALLET_TOPUP_MIN_AMOUNT, settings.WALLET_TOPUP_MAX_AMOUNT
    if not low <= amount <= high:
        raise InvalidTopUp(
            "amount",
            _("Top up between %(low)s and %(high)s.")
            % {"low": format_money(low, currency), "high": format_money(high, currency)},
        )


def _insert(**fields) -> tuple[OnlineTopUp, bool]:
    """(the new top-up, True), or the idempotency key's earlier one (a twin request racing this one)."""
    try:
        with transaction.atomic():
            return OnlineTopUp.objects.create(**fields), True
    except IntegrityError:
        earlier = OnlineTopUp.objects.filter(idempotency_key=fields["idempotency_key"]).first()
        if earlier is None or not fields["idempotency_key"]:
            raise
        return earlier, False


def _open_checkout(top_up: OnlineTopUp, gateway: Gateway, return_to: str) -> OnlineTopUp:
    try:
        checkout = gateway.begin_top_up(top_up, return_url=status_page_url(top_up, return_to=return_to))
    except GatewayError as problem:
        logger.warning("top-up %s: no checkout: %s", top_up.pk, problem)
        top_up.give_up(to=State.FAILED, reason="gateway_unavailable", at=timezone.now())
        raise GatewayUnavailable(_("Card payments are not available right now. Try again later.")) from None
    OnlineTopUp.objects.filter(pk=top_up.pk).update(
        payment_url=checkout.redirect_url, gateway_reference=checkout.reference
    )
    top_up.payment_url, top_up.gateway_reference = checkout.redirect_url, checkout.reference
    return top_up


# The gateway's word: its webhook, or asking it ------------------------------------------------------


def top_up_of_event(*, gateway: Gateway, event) -> OnlineTopUp | None:
    """Ours by the id in the metadata we gave the gateway, else by its checkout or payment id; None when
    the event names a checkout or payment other than the one we stored for it."""
    candidates = OnlineTopUp.objects.filter(gateway=gateway.name)
    top_up = candidates.filter(pk=event.top_up_id).first() if event.top_up_id else None
    if top_up is None and event.reference:
        top_up = candidates.filter(gateway_reference=event.reference).first()
    if top_up is None and event.gateway_payment:
        top_up = candidates.filter(gateway_payment=event.gateway_payment).first()
    if top_up is None or _mismatch(top_up, event):
        return None
    if event.reference and not top_up.gateway_reference:  # the checkout opened, then we crashed
        OnlineTopUp.objects.filter(pk=top_up.pk, gateway_reference="").update(
            gateway_reference=event.reference
        )
        top_up.gateway_reference = event.reference
    return top_up


def _mismatch(top_up: OnlineTopUp, event) -> bool:
    return bool(
        (event.reference and top_up.gateway_reference and event.reference != top_up.gateway_reference)
        or (
            event.gateway_payment
            and top_up.gateway_payment
            and event.gateway_payment != top_up.gateway_payment
        )
    )


def reconcile(*, top_up: OnlineTopUp, gateway: Gateway) -> None:
    """Bring the top-up in line with what the gateway says of its checkout now. GatewayError when the
    gateway cannot be asked (the webhook answers 503 and is delivered again; the sweep asks later)."""
    if top_up.state == State.CREDITED or not top_up.gateway_reference:
        return  # credited already, or no checkout was ever opened: nothing to ask about
    said = gateway.confirmation(top_up)
    if said.gateway_payment and not top_up.gateway_payment:
        OnlineTopUp.objects.filter(pk=top_up.pk, gateway_payment="").update(
            gateway_payment=said.gateway_payment
        )
        top_up.gateway_payment = said.gateway_payment
    now = timezone.now()
    if _money_taken(gateway, said) and said.amount == top_up.amount:
        credit(top_up=top_up, gateway_payment=said.gateway_payment, at=now)
    elif _money_taken(gateway, said):
        taken, chosen = (format_money(money, top_up.currency) for money in (said.amount, top_up.amount))
        logger.error("top-up %s: the gateway took %s, not %s: staff must settle it", top_up.pk, taken, chosen)
        top_up.give_up(to=State.FAILED, reason="amount_mismatch", at=now)
    elif said.status == Confirmation.FAILED:
        top_up.give_up(to=State.EXPIRED, reason="checkout_expired", at=now)
    elif said.status == Confirmation.CANCELLED:
        top_up.give_up(to=State.FAILED, reason="gateway_cancelled", at=now)


def _money_taken(gateway: Gateway, said: Confirmation) -> bool:
    """Captured; or, from a gateway that never holds money, confirmed (it is taken up front). A hold
    alone is not money received: a top-up is never credited on an authorisation."""
    if not said.gateway_payment:
        return False
    return said.status == Confirmation.CAPTURED or (
        said.status == Confirmation.AUTHORISED and not gateway.holds_funds
    )


def credit(*, top_up: OnlineTopUp, gateway_payment: str, at: datetime) -> LedgerEntry:
    """The money the gateway took, into the wallet: exactly one TOP_UP entry whose idempotency key is the
    gateway's payment id, and the top-up marked credited, in one transaction.

    Guards the webhook delivered twice at once, or racing the sweep's query: the top-up's row lock
    makes the second wait and find it credited; the entry's unique key is the last word.
    """
    key = ledger_key(gateway_payment)
    with transaction.atomic():
        rows = OnlineTopUp.objects.select_for_update(of=("self",)).select_related("account", "driver")
        locked = rows.get(pk=top_up.pk)  # the wallet's row is locked by Account.post, the driver's never
        entry = LedgerEntry.objects.filter(idempotency_key=key).first()
        if entry is None:
            entry = locked.account.post(
                kind=LedgerEntry.Kind.TOP_UP,
                amount=locked.amount,
                source=locked.gateway,
                created_by=locked.driver,
                payment_method=LedgerEntry.PaymentMethod.CARD,
                reason=f"online top-up {locked.pk}",
                idempotency_key=key,
            )
        if locked.state != State.CREDITED:
            locked.mark_credited(entry=entry, at=at)
    top_up.refresh_from_db()
    return entry


def ledger_key(gateway_payment: str) -> str:
    """The gateway's payment id (Stripe's PaymentIntent ids fit); a longer one of another gateway, hashed."""
    if len(gateway_payment) <= LEDGER_KEY_LENGTH:
        return gateway_payment
    return "sha256:" + hashlib.sha256(gateway_payment.encode()).hexdigest()[: LEDGER_KEY_LENGTH - 7]


# The sweep (billing.tasks): late webhooks, and checkouts nobody paid --------------------------------------


def sweep(*, now: datetime) -> int:
    """Ask the gateway about checkouts whose webhook is late; close those open past
    PAYMENT_CHECKOUT_TIMEOUT_SECONDS (paid at that very moment: credited). Returns how many it touched."""
    waiting = OnlineTopUp.objects.filter(state=State.PENDING, created_at__lt=now - CONFIRMATION_CHECK_AFTER)
    asked = list(waiting.exclude(gateway_reference=""))
    for top_up in asked:
        _ask(top_up)
    deadline = now - timedelta(seconds=settings.PAYMENT_CHECKOUT_TIMEOUT_SECONDS)
    overdue = list(OnlineTopUp.objects.filter(state=State.PENDING, created_at__lt=deadline))
    for top_up in overdue:
        _close(top_up, now)
    return len(asked) + len(overdue)


def _ask(top_up: OnlineTopUp) -> bool:
    try:
        reconcile(top_up=top_up, gateway=gateway_named(top_up.gateway))
    except GatewayError as problem:
        logger.warning("top-up %s: the gateway could not be asked: %s", top_up.pk, problem)
        return False
    return True


def _close(top_up: OnlineTopUp, now: datetime) -> None:
    """Closed at the gateway first, then given up: a payment made meanwhile makes the closing fail,
    and is then credited. A gateway that cannot be reached: tried again at the next sweep."""
    try:
        if top_up.gateway_reference:
            gateway_named(top_up.gateway).close_top_up(top_up)
    except GatewayError:
        _ask(top_up)
        return
    top_up.give_up(to=State.EXPIRED, reason="checkout_expired", at=now)
