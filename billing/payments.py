"""The driver's QR-code payment flow: scan, pay, charge, settle. The services behind the pay pages
and the JSON API (billing.api); money moves through billing.gateways, sessions through stations.

The order of events, and who moves a Payment (billing.models) from state to state:

    create_payment ── wallet: HOLD entry ────────────────────────────▶ held ──┐
                   └─ card: gateway checkout ─▶ pending ─ webhook ─▶ held ──┤ (never before)
    start_payment:  held ─▶ starting: RemoteStartTransaction with the payment's own idTag
    StartTransaction with it (stations.services): starting ─▶ charging, the session linked
    MeterValues: billing.budget stops it before the cost reaches the amount
    StopTransaction (billing.services.settle_transaction): priced once ─▶ settled (wallet, in the
        same commit) or capturing ─▶ collect: the gateway captures, lets the rest go ─▶ settled
    anything going wrong before the start: give_back ─▶ released / refunded (or failed: never paid)

Each arrow is a conditional UPDATE (Payment._move); jobs run after commit (billing.tasks.soon),
and `billing.tasks.sweep` finishes whatever a crash, a lost webhook or a silent charger left half-way;
gateways' webhooks are handled in billing.webhooks, and what pages read is in billing.payment_status.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import budget, pricing
from billing import services as billing_services
from billing.gateways import card_gateway, gateway_named
from billing.gateways.base import GatewayError
from billing.gateways.wallet import WalletGateway
from billing.models import Account, Payment, SessionCharge, Tariff
from billing.money import format_money, minor_unit, quantize_money
from rfid.models import AuthorizationRefusal
from stations import commands, payloads
from stations.models import (
    Charger,
    Command,
    Connector,
    Transaction,
)

logger = logging.getLogger(__name__)

State = Payment.State
ZERO = Decimal("0")

# A payment's idTag: the prefix tells rfid.services (with no query) to ask here; 16 characters of
# Crockford's base32 after it are 80 random bits, and the whole fits OCPP's 20 characters.
ID_TAG_PREFIX = "PAY-"
ID_TAG_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_TAG_RANDOM_CHARS = 16

# How long the sweep (billing.tasks) waits before it takes over from a job, and when it steps in.
EXPIRY_STOP = timedelta(hours=1)  # a session this close to its hold lapsing is stopped, so it can be captured
STOP_RETRY = timedelta(seconds=60)
DRIVER_STOP_REPEAT = timedelta(seconds=10)
CONFIRMATION_CHECK_AFTER = timedelta(seconds=60)  # a checkout whose webhook is late is asked about
MAX_RETRY_DELAY = timedelta(hours=1)


# Errors the pages and the API turn into answers ---------------------------------------------


class PaymentError(Exception):
    """A request the flow refuses; `message` is for the driver (translated), `status` the API's answer."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidPayment(PaymentError):
    """Bad input, naming the field (amount, method, charger, connector, idempotency_key): 400."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


class InsufficientFunds(PaymentError):
    """The wallet's balance is below the amount; nothing was held: 402."""

    status = 402

    def __init__(self, message: str, *, balance: Decimal, currency: str):
        super().__init__(message)
        self.balance, self.currency = balance, currency


class ConnectorUnavailable(PaymentError):
    """Offline, busy, faulted, unpriced or taken by another payment; nothing was held: 409.
    `payment` is the caller's own live payment on it, when that is what takes it."""

    status = 409

    def __init__(self, message: str, *, payment: Payment | None = None):
        super().__init__(message)
        self.payment = payment


class GatewayUnavailable(PaymentError):
    """The card gateway could not open a checkout; nothing was held: 503."""

    status = 503


# Why a payment was cancelled: stored as a code, shown in the driver's language.
FAILURES = {
    "charger_offline": gettext_lazy(
        "The charger is offline. Nothing was charged; the money held was given back."
    ),
    "start_rejected": gettext_lazy(
        "The charger refused to start. Nothing was charged; the money held was given back."
    ),
    "start_unanswered": gettext_lazy(
        "The charger did not answer. Nothing was charged; the money held was given back."
    ),
    "no_start": gettext_lazy(
        "Charging did not begin in time (is the cable plugged in?). "
        "Nothing was charged; the money held was given back."
    ),
    "cancelled": gettext_lazy("You cancelled. Nothing was charged; the money held was given back."),
    "checkout_expired": gettext_lazy("The card payment was not completed in time. Nothing was charged."),
    "gateway_cancelled": gettext_lazy("The card payment was cancelled by the payment provider."),
    "gateway_unavailable": gettext_lazy("The card payment could not be opened. Nothing was charged."),
    "amount_mismatch": gettext_lazy(
        "The payment provider confirmed another amount than you chose; it was given back."
    ),
}


def failure_text(payment: Payment) -> str:
    return str(FAILURES.get(payment.failure_reason, payment.failure_reason))


# idTags ---------------------------------------------------------------------------------------


def new_id_tag() -> str:
    return ID_TAG_PREFIX + "".join(secrets.choice(ID_TAG_ALPHABET) for _ in range(ID_TAG_RANDOM_CHARS))


def is_payment_id_tag(id_tag: str) -> bool:
    """Whether an idTag may be a payment's: decided without a query, so ordinary cards pay nothing."""
    return id_tag[: len(ID_TAG_PREFIX)].upper() == ID_TAG_PREFIX


# What the pay page offers -------------------------------------------------------------------------

CONNECTOR_STATES = {
    "Available": "available",
    "Preparing": "preparing",
    "Charging": "charging",
    "SuspendedEV": "charging",
    "SuspendedEVSE": "charging",
    "Finishing": "charging",
    "Reserved": "unavailable",
    "Unavailable": "unavailable",
    "Faulted": "faulted",
}
CONNECTOR_STATE_LABELS = {
    "available": gettext_lazy("available"),
    "preparing": gettext_lazy("preparing"),
    "charging": gettext_lazy("charging"),
    "faulted": gettext_lazy("faulted"),
    "unavailable": gettext_lazy("unavailable"),
    "offline": gettext_lazy("offline"),
}
USABLE_STATES = ("available", "preparing")


@dataclass
class ConnectorOffer:
    charger: Charger
    connector_id: int
    connector: Connector | None
    state: str
    usable: bool
    reason: str
    tariff: Tariff | None
    periods: list
    currency: str
    presets: list[Decimal]
    min_amount: Decimal
    max_amount: Decimal
    methods: list[str]
    own_payment: Payment | None = None
    balance: Decimal | None = None

    @property
    def state_label(self) -> str:
        return str(CONNECTOR_STATE_LABELS[self.state])


def card_gateway_configured() -> bool:
    return card_gateway() is not None


def connector_state(charger: Charger, connector: Connector | None) -> str:
    """available, preparing, charging, faulted, unavailable or offline: what a driver reads."""
    if not charger.is_connected or charger.is_silent:
        return "offline"
    if connector is None or not connector.status:
        return "available"  # connected, and it never said otherwise
    if connector.status == "Occupied":  # OCPP 2.0.1: a car is plugged in, charging or about to
        return "charging" if _charging_at(connector) else "preparing"
    return CONNECTOR_STATES.get(connector.status, "unavailable")


def _charging_at(connector: Connector) -> bool:
    """An accepted session is open on the connector (a 2.0.1 charger says only "Occupied")."""
    sessions = Transaction.objects.charging().filter(charger_id=connector.charger_id)
    return sessions.filter(connector_id=connector.connector_id).exists()


def connector_offer(*, charger: Charger, connector_id: int, driver=None) -> ConnectorOffer:
    """What the pay page and GET /api/v1/connectors/… show, and whether paying is possible now."""
    connector = Connector.objects.filter(charger=charger, connector_id=connector_id).first()
    state = connector_state(charger, connector)
    tariff = billing_services.tariff_for(charger=charger, connector_id=connector_id)
    live = Payment.objects.live().filter(charger=charger, connector_id=connector_id).first()
    own = live if live is not None and driver is not None and live.driver_id == driver.pk else None
    currency = tariff.currency if tariff else billing_services.site_currency()
    reason = _unusable_reason(charger, connector_id, state, tariff, live)
    return ConnectorOffer(
        charger=charger,
        connector_id=connector_id,
        connector=connector,
        state=state,
        reason=reason,
        usable=not reason,
        tariff=tariff,
        periods=list(tariff.periods.all()) if tariff else [],
        currency=currency,
        presets=[p for p in settings.PAYMENT_AMOUNT_PRESETS if _within_limits(p)],
        min_amount=settings.PAYMENT_MIN_AMOUNT,
        max_amount=settings.PAYMENT_MAX_AMOUNT,
        methods=["wallet", "card"] if card_gateway_configured() else ["wallet"],
        own_payment=own,
        balance=_balance_of(driver),
    )


def _unusable_reason(charger, connector_id, state, tariff, live) -> str:
    if not charger.is_approved:
        return _("This charger is not in service.")
    if state == "offline":
        return _("The charger is offline. Try again later or use another connector.")
    if state == "faulted":
        return _("This connector is out of order.")
    if state not in USABLE_STATES:
        return _("This connector is in use or unavailable right now.")
    if live is not None:
        return _("Someone is paying for or charging at this connector right now.")
    if tariff is None:
        return _("No price is set for this connector yet, so it cannot be paid for.")
    if Transaction.objects.filter(charger=charger, connector_id=connector_id).charging().exists():
        return _("This connector is in use or unavailable right now.")
    return ""


def _within_limits(amount: Decimal) -> bool:
    return settings.PAYMENT_MIN_AMOUNT <= amount <= settings.PAYMENT_MAX_AMOUNT


def _balance_of(driver) -> Decimal | None:
    if driver is None or not driver.is_authenticated:
        return None
    return Account.objects.filter(owner=driver).values_list("balance", flat=True).first() or ZERO


# Paying -------------------------------------------------------------------------------------------


def create_payment(
    *,
    charger: Charger,
    connector_id: int,
    amount: Decimal,
    method: str,
    driver=None,
    idempotency_key: str | None = None,
    source: str = "web",
) -> Payment:
    """Hold the money (wallet) or open the card checkout; the start follows once the money is confirmed.

    The same idempotency key again returns the first payment (a double click, a reload). Raises
    InvalidPayment (400), InsufficientFunds (402), ConnectorUnavailable (409), GatewayUnavailable (503).
    """
    driver = driver if driver is not None and driver.is_authenticated else None
    request = {"charger": charger, "connector_id": connector_id, "amount": amount, "method": method}
    if idempotency_key and (earlier := _earlier(idempotency_key, driver, request)):
        return earlier
    offer = connector_offer(charger=charger, connector_id=connector_id, driver=driver)
    _check_amount(amount, offer.currency)
    if method not in offer.methods:
        raise InvalidPayment("method", _("Choose how to pay: %s.") % ", ".join(offer.methods))
    if not offer.usable:
        raise ConnectorUnavailable(offer.reason, payment=offer.own_payment)
    fields = {**request, "driver": driver, "currency": offer.currency, "source": source}
    fields["idempotency_key"] = idempotency_key or None
    if method == Payment.Method.WALLET:
        return _pay_from_wallet(fields)
    return _pay_by_card(fields)


def _earlier(key: str, driver, request: dict) -> Payment | None:
    """The payment this idempotency key already made; refused when it was made for something else."""
    earlier = Payment.objects.filter(idempotency_key=key).first()
    if earlier is None:
        return None
    same = (
        earlier.driver_id == (driver.pk if driver else None)
        and earlier.charger_id == request["charger"].pk
        and earlier.connector_id == request["connector_id"]
        and earlier.amount == request["amount"]
        and earlier.method == request["method"]
    )
    if not same:
        raise InvalidPayment("idempotency_key", _("This payment form was already used. Reload the page."))
    return earlier


def _check_amount(amount, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidPayment("amount", _("Enter an amount of money, e.g. 20.00."))
    if amount != quantize_money(amount, currency):
        raise InvalidPayment(
            "amount",
            _("%(currency)s amounts have no smaller coin than %(coin)s.")
            % {
                "currency": currency,
                "coin": minor_unit(currency),
            },
        )
    if not _within_limits(amount):
        raise InvalidPayment(
            "amount",
            _("Pay between %(low)s and %(high)s.")
            % {
                "low": format_money(settings.PAYMENT_MIN_AMOUNT, currency),
                "high": format_money(settings.PAYMENT_MAX_AMOUNT, currency),
            },
        )


def _pay_from_wallet(fields: dict) -> Payment:
    driver = fields["driver"]
    if driver is None:
        raise InvalidPayment("method", _("Sign in to pay from your wallet."))
    wallet = billing_services.wallet_for_owner(driver)
    if wallet.currency != fields["currency"]:
        raise InvalidPayment(
            "method",
            _("Your wallet is in %(wallet)s; this connector charges in %(price)s.")
            % {
                "wallet": wallet.currency,
                "price": fields["currency"],
            },
        )
    with transaction.atomic():
        # Two payments from one wallet at once: the second reads the balance the first left.
        locked = Account.objects.select_for_update().get(pk=wallet.pk)
        if locked.balance < fields["amount"]:
            raise InsufficientFunds(
                _("Your balance of %(balance)s does not cover %(amount)s. Top up or choose less.")
                % {
                    "balance": format_money(locked.balance, wallet.currency),
                    "amount": format_money(fields["amount"], wallet.currency),
                },
                balance=locked.balance,
                currency=wallet.currency,
            )
        payment, created = _insert(
            fields, account=wallet, state=State.HELD, confirmed_at=timezone.now(), gateway="wallet"
        )
        if not created:
            return payment  # a twin of this very request (the same idempotency key) made it first
        WalletGateway().hold(payment)
        _soon("start", payment)
    return payment


def _pay_by_card(fields: dict) -> Payment:
    gateway = card_gateway()
    with transaction.atomic():
        payment, created = _insert(fields, state=State.PENDING, gateway=gateway.name)
    if not created:
        return payment  # a twin of this very request (the same idempotency key) made it first
    try:
        checkout = gateway.begin(payment, return_url=live_page_url(payment))
    except GatewayError as problem:
        logger.warning("payment %s: no checkout: %s", payment.pk, problem)
        payment.fail(reason="gateway_unavailable", at=timezone.now())
        raise GatewayUnavailable(
            _("Card payments are not available right now. Try again or pay from a wallet.")
        ) from None
    Payment.objects.filter(pk=payment.pk).update(
        payment_url=checkout.redirect_url, gateway_reference=checkout.reference
    )
    payment.payment_url, payment.gateway_reference = checkout.redirect_url, checkout.reference
    return payment


def _insert(fields: dict, **more) -> tuple[Payment, bool]:
    """(the new payment, True), or (the idempotency key's earlier one, False); ConnectorUnavailable when
    the connector is taken. The partial unique constraint decides two drivers at once, before money moves."""
    try:
        with transaction.atomic():
            return Payment.objects.create(id_tag=new_id_tag(), **fields, **more), True
    except IntegrityError:
        key = fields["idempotency_key"]
        if key and (earlier := Payment.objects.filter(idempotency_key=key).first()):
            return earlier, False
        live = Payment.objects.live().filter(charger=fields["charger"], connector_id=fields["connector_id"])
        mine = live.filter(driver=fields["driver"]).first() if fields["driver"] else None
        raise ConnectorUnavailable(
            _("Someone is paying for or charging at this connector right now."), payment=mine
        ) from None


def live_page_url(payment: Payment) -> str:
    return f"{settings.PUBLIC_BASE_URL}/s/{payment.token}/"


def payment_by_token(token: str) -> Payment | None:
    return (
        Payment.objects.select_related("charger", "transaction").filter(token=token).first()
        if token
        else None
    )


def payment_for_driver(*, driver, payment_id: int) -> Payment | None:
    """The driver's own payment; None for anyone else's (the API answers 404 alike)."""
    if driver is None or not driver.is_authenticated:
        return None
    return (
        Payment.objects.select_related("charger", "transaction").filter(pk=payment_id, driver=driver).first()
    )


def _soon(job: str, payment: Payment) -> None:
    from billing import tasks  # the jobs import this module

    tasks.soon(job, payment.pk)


# Starting: the command, then the charger's Authorize and StartTransaction --------------------------------


def start_payment(*, payment_id: int) -> None:
    """A job: send the start for money confirmed. Only the caller that moves it held → starting sends."""
    payment = Payment.objects.select_related("charger", "driver").filter(pk=payment_id).first()
    if payment is None or not payment.mark_start_sent(at=timezone.now()):
        return
    # RemoteStartTransaction (1.6) or RequestStartTransaction (2.0.1), as the charger speaks.
    command = _send(
        payment,
        *payloads.remote_start(
            charger=payment.charger, connector_id=payment.connector_id, id_tag=payment.id_tag
        ),
    )
    if command is None or command.status != Command.Status.ACCEPTED:
        give_back(payment=payment, reason=_start_failure(command))


def _send(payment: Payment, action: str, body: dict) -> Command | None:
    source = Command.Source.API if payment.source == "api" else Command.Source.WEB
    try:
        return commands.send(
            charger=payment.charger, action=action, payload=body, user=payment.driver, source=source
        )
    except commands.CommandRefused as refused:
        logger.error("payment %s: %s refused before sending: %s", payment.pk, action, refused)
        return None


def _start_failure(command: Command | None) -> str:
    if command is not None and command.status == Command.Status.OFFLINE:
        return "charger_offline"
    if command is not None and command.status == Command.Status.REJECTED:
        return "start_rejected"
    return "start_unanswered"


def authorize_id_tag(
    *, id_tag: str, charger: Charger, connector_id: int | None = None, for_stop: bool = False
):
    """rfid.services' decision for an idTag with the payment prefix; None when no payment has it.

    Accepted only at the payment's charger (and connector, which only StartTransaction names) and
    only while the money is held and no session is linked yet. For a start, the payment row is
    locked until the session is linked (link_session): the start timeout cannot give the money
    back in between.
    """
    from rfid.services import Authorization  # rfid.services asks this module: imported when needed

    payments = Payment.objects.filter(id_tag=id_tag)
    if connector_id is not None and not for_stop and transaction.get_connection().in_atomic_block:
        payments = payments.select_for_update()  # a StartTransaction: held until the session is linked
    payment = payments.first()
    if payment is None:
        return None
    refusal = _payment_refusal(payment, charger, connector_id, for_stop)
    if refusal:
        AuthorizationRefusal.objects.create(id_tag=id_tag, charger=charger, status="Invalid", reason=refusal)
        return Authorization("Invalid", reason=refusal)
    return Authorization("Accepted")


def _payment_refusal(payment: Payment, charger: Charger, connector_id: int | None, for_stop: bool) -> str:
    if payment.charger_id != charger.pk:
        return f"payment {payment.pk} is for another charger"
    if for_stop:
        return ""
    if connector_id is not None and connector_id != payment.connector_id:
        return f"payment {payment.pk} is for connector {payment.connector_id}"
    if payment.state not in (State.HELD, State.STARTING):
        return f"payment {payment.pk} is {payment.state}"
    return ""


def link_session(*, session: Transaction) -> None:
    """In the StartTransaction's own transaction, after an accepted start: the session is the payment's.
    Once committed, this process watches its budget (billing.budget)."""
    payment = Payment.objects.filter(id_tag=session.id_tag).first()
    if payment is None or not payment.link(transaction_id=session.pk):
        return
    watched = budget_of(payment, session)
    transaction.on_commit(lambda: budget.watch(session.pk, watched))


def budget_of(payment: Payment, session: Transaction) -> budget.Budget:
    tariff = billing_services.tariff_for(charger=session.charger, connector_id=session.connector_id)
    return budget.Budget(
        payment_id=payment.pk,
        amount=payment.amount,
        rates=budget.Rates.of_tariff(
            tariff, list(tariff.periods.all()) if tariff else [], minor_unit(payment.currency)
        ),
        meter_start_wh=Decimal(session.meter_start),
        started_at=session.started_at,
    )


# Stopping ---------------------------------------------------------------------------------------------


def request_stop(*, payment: Payment, source: str = "web") -> Payment:
    """The driver's stop button: a session stops (RemoteStopTransaction, in the background); money not
    yet used for a session is given back in full. A finished payment is left as it is."""
    payment.refresh_from_db()
    now = timezone.now()
    if payment.state == State.PENDING:
        if payment.fail(reason="cancelled", at=now):
            _soon("close_checkout", payment)
    elif payment.state in (State.HELD, State.STARTING):
        give_back(payment=payment, reason="cancelled")
    elif payment.state == State.CHARGING and payment.mark_stop_requested(
        at=now, unless_since=now - DRIVER_STOP_REPEAT
    ):
        _soon("stop", payment)
    payment.refresh_from_db()
    return payment


def send_stop(*, payment_id: int) -> None:
    """A job: RemoteStopTransaction for the payment's session (the driver's, the budget's or the sweep's)."""
    payment = Payment.objects.select_related("charger", "driver").filter(pk=payment_id).first()
    if payment is None or payment.state != State.CHARGING:
        return
    command = _send(payment, *payloads.remote_stop(session=payment.transaction))
    if command is None or command.status != Command.Status.ACCEPTED:
        logger.warning("payment %s: the stop was not accepted (%s)", payment.pk, command and command.status)


def stop_over_budget(*, payment_id: int) -> None:
    """A job the budget watch schedules once per process: the next meter interval would pass the amount."""
    payment = Payment.objects.filter(pk=payment_id).first()
    now = timezone.now()
    if payment is not None and payment.mark_stop_requested(at=now, unless_since=now - STOP_RETRY):
        logger.info("payment %s: stopping session %s at its paid amount", payment.pk, payment.transaction_id)
        send_stop(payment_id=payment_id)


# Settling -------------------------------------------------------------------------------------------------


def paying_for(session: Transaction) -> Payment | None:
    """The payment behind a session, locked (two racing stops settle one after the other); no query
    for an ordinary card's session."""
    if not is_payment_id_tag(session.id_tag):
        return None
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("account", "driver")
        .filter(transaction=session)
        .first()
    )


def settle_session(*, payment: Payment, session: Transaction, tariff, price: pricing.Price) -> SessionCharge:
    """Inside the StopTransaction's transaction (billing.services.settle_transaction): the session's price,
    once. The driver pays at most the amount; past it is the site's loss, recorded on both rows."""
    captured = min(price.total, payment.amount)
    charge = billing_services.create_charge(
        session=session,
        tariff=tariff,
        price=price,
        charged=captured,
        uncollected=price.total - captured,
        account=payment.account,
    )
    in_database = payment.gateway == WalletGateway.name
    to = State.SETTLED if in_database else State.CAPTURING
    ended = payment.end(
        to=to, at=timezone.now(), cost=price.total, captured=captured, site_loss=price.total - captured
    )
    if ended and in_database:
        WalletGateway().capture(payment, amount=captured, session=session)
    elif ended:
        _soon("collect", payment)
    transaction.on_commit(lambda: budget.forget(session.pk))
    return charge


def collect(*, payment_id: int) -> None:
    """A job: the gateway takes what the session cost and gives back the rest (capture, or refund for a
    gateway that charged up front). A failure is retried later and shown to staff."""
    payment = Payment.objects.filter(pk=payment_id, state=State.CAPTURING).select_related("charger").first()
    if payment is None:
        return
    try:
        gateway = gateway_named(payment.gateway)
        if gateway.holds_funds:
            gateway.capture(payment, amount=payment.captured)
        elif payment.amount > payment.captured:
            gateway.refund(payment, amount=payment.amount - payment.captured)
    except GatewayError as problem:
        _retry_later(payment, problem, _("Capture failed"))
        return
    payment.finish_capture(at=timezone.now())


def give_back(*, payment: Payment, reason: str) -> bool:
    """All of it back, nothing charged: the start failed, timed out or was cancelled. The wallet's in this
    transaction; a gateway's in a job after it. False when something else moved the payment first."""
    now = timezone.now()
    if payment.gateway != WalletGateway.name:
        moved = payment.give_back(reason=reason, at=now)
        if moved:
            _soon("give_back", payment)
        return moved
    with transaction.atomic():
        moved = payment.give_back(reason=reason, at=now, to=State.RELEASED)
        if moved:
            WalletGateway().cancel(payment)
    return moved


def finish_giving_back(*, payment_id: int) -> None:
    """A job: the gateway lets the whole hold go (or refunds an up-front payment in full)."""
    payment = Payment.objects.filter(pk=payment_id, state=State.RELEASING).first()
    if payment is None:
        return
    try:
        gateway = gateway_named(payment.gateway)
        if gateway.holds_funds:
            gateway.cancel(payment)
        else:
            gateway.refund(payment, amount=payment.amount)
    except GatewayError as problem:
        _retry_later(payment, problem, _("Giving the money back failed"))
        return
    payment.finish_release(to=State.RELEASED if gateway.holds_funds else State.REFUNDED)


def close_checkout(*, payment_id: int) -> None:
    """A job: a checkout nobody will pay any more (cancelled, timed out) is closed at the gateway.
    Paid at that very moment, the gateway's webhook arrives for a failed payment: given back at once."""
    payment = Payment.objects.filter(pk=payment_id, state=State.FAILED).exclude(gateway_reference="").first()
    if payment is None:
        return
    try:
        gateway_named(payment.gateway).cancel(payment)
    except GatewayError as problem:
        logger.warning("payment %s: the checkout could not be closed: %s", payment.pk, problem)


def _retry_later(payment: Payment, problem: GatewayError, what: str) -> None:
    delay = min(timedelta(seconds=30) * 2**payment.attempts, MAX_RETRY_DELAY)
    retry_at = timezone.now() + (delay if problem.retry else MAX_RETRY_DELAY * 24)
    logger.warning("payment %s: %s (attempt %s): %s", payment.pk, what, payment.attempts + 1, problem)
    payment.note_problem(attention=f"{what} (attempt {payment.attempts + 1}): {problem}", retry_at=retry_at)


# What the live page, the receipt and the staff's list read (billing.payment_status), named here too:
# the pay pages and the API ask this module for everything.
from billing.payment_status import (  # noqa: E402
    LiveStatus,
    Receipt,
    live_status,
    live_status_json,
    needs_attention,
    payments_for_staff,
    receipt,
)

__all__ = [
    "LiveStatus",
    "Receipt",
    "live_status",
    "live_status_json",
    "needs_attention",
    "payments_for_staff",
    "receipt",
]
