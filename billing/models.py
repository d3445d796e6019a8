"""Tariffs, the wallet (an account per driver or anonymous card) and its append-only ledger, the
QR-code payments (billing.payments), online wallet top-ups (billing.topups) and the gateways'
webhook events."""

import secrets
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.money import DEFAULT_CURRENCY, MONEY_FIELD, RATE_FIELD, format_money

ZERO = Decimal("0")


class Tariff(models.Model):
    """What a session costs. Rates exclude tax; tax is added on the total."""

    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY, help_text="ISO 4217 code, e.g. EUR")
    price_per_kwh = models.DecimalField(**RATE_FIELD, default=ZERO, validators=[MinValueValidator(ZERO)])
    price_per_hour = models.DecimalField(
        **RATE_FIELD,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="Per hour of charging: from the start until the energy stops flowing",
    )
    session_fee = models.DecimalField(**RATE_FIELD, default=ZERO, validators=[MinValueValidator(ZERO)])
    idle_fee_per_hour = models.DecimalField(
        **RATE_FIELD,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="Per hour plugged in after the energy stopped flowing, beyond the grace period; 0 for none",
    )
    idle_grace_minutes = models.PositiveIntegerField(default=0)
    min_balance_to_start = models.DecimalField(
        "minimum balance to start", **MONEY_FIELD, default=ZERO, validators=[MinValueValidator(ZERO)]
    )
    tax_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
        help_text="Added on top of the net price, e.g. 19.00",
    )
    allow_overdraft = models.BooleanField(
        default=False,
        help_text="Let a prepaid balance go below zero when a session costs more than it holds",
    )
    is_default = models.BooleanField(
        default=False, help_text="Used where no charger or connector has its own"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_tariff"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.currency})"


def validate_weekdays(value: str) -> None:
    if not value or len(set(value)) != len(value):
        raise ValidationError("List each ISO weekday once, e.g. 12345 for Monday to Friday.")


class TariffPeriod(models.Model):
    """A time-of-use window in the site's time zone with its own rates.

    The window runs from `start_time` to `end_time` on each listed weekday; an
    end at or before the start runs past midnight into the next day.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="periods")
    name = models.CharField(max_length=50, help_text="e.g. Peak, Night")
    weekdays = models.CharField(
        max_length=7,
        default="1234567",
        validators=[RegexValidator(r"^[1-7]{1,7}$"), validate_weekdays],
        help_text="ISO weekdays the window starts on: 1 = Monday … 7 = Sunday, e.g. 12345",
    )
    start_time = models.TimeField(default=time(0))
    end_time = models.TimeField(default=time(0), help_text="00:00 means midnight at the end of the day")
    price_per_kwh = models.DecimalField(**RATE_FIELD, validators=[MinValueValidator(ZERO)])
    price_per_hour = models.DecimalField(
        **RATE_FIELD,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text="Empty: the tariff's price per hour",
    )

    class Meta:
        ordering = ["tariff", "start_time"]

    def __str__(self):
        return f"{self.name} {self.weekdays} {self.start_time:%H:%M}–{self.end_time:%H:%M}"

    def covers(self, local_moment) -> bool:
        """Whether this window applies at `local_moment` (a datetime in the site's zone)."""
        weekday, clock = str(local_moment.isoweekday()), local_moment.time()
        if self.start_time < self.end_time:
            return weekday in self.weekdays and self.start_time <= clock < self.end_time
        # Runs past midnight: from the start on a listed day, or before the end on the day after one.
        yesterday = str((local_moment.isoweekday() - 2) % 7 + 1)
        return (weekday in self.weekdays and clock >= self.start_time) or (
            yesterday in self.weekdays and clock < self.end_time
        )


class TariffAssignment(models.Model):
    """A charger's own tariff, or a connector's (connector_id set)."""

    charger = models.ForeignKey(
        "stations.Charger", on_delete=models.CASCADE, related_name="tariff_assignments"
    )
    connector_id = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the whole charger")
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="assignments")

    class Meta:
        ordering = ["charger", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["charger", "connector_id"], name="one_tariff_per_connector"),
            models.UniqueConstraint(
                fields=["charger"], condition=Q(connector_id__isnull=True), name="one_tariff_per_charger"
            ),
        ]

    def __str__(self):
        where = f" #{self.connector_id}" if self.connector_id is not None else ""
        return f"{self.charger}{where}: {self.tariff}"


class Account(models.Model):
    """A wallet: a driver's (shared by all their cards) or an anonymous prepaid card's.

    `balance` is a cache of the sum of the ledger entries; it only changes in
    `post`, in the same transaction that appends the entry.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="wallet"
    )
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    balance = models.DecimalField(**MONEY_FIELD, default=ZERO, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        if self.owner_id:
            return f"Wallet of {self.owner}"
        card = self.cards.first()
        return f"Wallet of card {card}" if card else f"Wallet {self.pk}"

    @property
    def balance_display(self) -> str:
        return format_money(self.balance, self.currency)

    @transaction.atomic
    def post(
        self, *, kind: str, amount: Decimal, source: str, allow_negative=False, **details
    ) -> "LedgerEntry":
        """Append one entry and move the cached balance with it.

        Guards the lost-update race of two sessions settling on one wallet at
        once: the row lock makes the second one read the balance the first wrote.
        Callers that decide the amount from the balance lock the row first.
        """
        locked = Account.objects.select_for_update().get(pk=self.pk)
        if locked.balance + amount < 0 and amount < 0 and not allow_negative:
            raise InsufficientBalance(
                f"{format_money(-amount, self.currency)} is more than the balance "
                f"{format_money(locked.balance, self.currency)}"
            )
        locked.balance += amount
        Account.objects.filter(pk=self.pk).update(balance=locked.balance)
        self.balance = locked.balance
        return LedgerEntry.objects.create(
            account=self, kind=kind, amount=amount, balance_after=locked.balance, source=source, **details
        )


class InsufficientBalance(Exception):
    """A debit that would take a wallet below zero without an overdraft."""


class AppendOnlyError(Exception):
    """Ledger entries are history: corrections are new entries, never edits."""


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Ledger entries cannot be updated")

    def delete(self):
        raise AppendOnlyError("Ledger entries cannot be deleted")


class LedgerEntry(models.Model):
    """One movement of money on a wallet: positive credits it, negative debits it."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("top-up")
        SESSION_CHARGE = "session_charge", _("session charge")
        REFUND = "refund", pgettext_lazy("ledger entry", "Refund")
        HOLD = "hold", pgettext_lazy("ledger entry", "Hold")
        RELEASE = "release", pgettext_lazy("ledger entry", "Release")
        ADJUSTMENT = "adjustment", _("staff adjustment")

    class PaymentMethod(models.TextChoices):
        CASH = "cash", pgettext_lazy("payment method", "Cash")
        CARD = "card", pgettext_lazy("payment method", "Card")
        OTHER = "other", pgettext_lazy("payment method", "Other")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(**MONEY_FIELD)
    balance_after = models.DecimalField(
        **MONEY_FIELD, help_text="The wallet's balance right after this entry"
    )
    card = models.ForeignKey(
        "rfid.IdTag", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    transaction = models.ForeignKey(
        "stations.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    payment_method = models.CharField(max_length=8, choices=PaymentMethod.choices, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # Who or what caused it: a person (created_by) and/or a process ("cli", "ocpp:CP-1", "desk").
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=64)
    # A form's hidden key or "session:<transaction id>": a second submission finds the first entry.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["created_at", "id"]
        # The whole ledger (the API's /api/v1/ledger/): operators and admins. The front desk reads a
        # card's or a driver's entries on their pages (view_ledgerentry), never every wallet's.
        permissions = [("view_ledger", "Can read every wallet's ledger entries")]
        constraints = [
            # Money for a session moves exactly once, whatever a charger replays.
            models.UniqueConstraint(
                fields=["transaction"], condition=Q(kind="session_charge"), name="one_charge_per_transaction"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {format_money(self.amount, self.account.currency)}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Ledger entries cannot be changed; post a new entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ledger entries cannot be deleted")

    @property
    def attribution(self) -> str:
        return " / ".join(part for part in (str(self.created_by or ""), self.source) if part)


class SessionCharge(models.Model):
    """The priced result of one finished transaction: made once, through the unique transaction."""

    transaction = models.OneToOneField(
        "stations.Transaction", on_delete=models.PROTECT, related_name="charge"
    )
    card = models.ForeignKey(
        "rfid.IdTag", on_delete=models.PROTECT, null=True, blank=True, related_name="charges"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="charges"
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, null=True, blank=True, related_name="charges"
    )
    currency = models.CharField(max_length=3)
    energy_wh = models.DecimalField(max_digits=16, decimal_places=3)
    charging_seconds = models.PositiveIntegerField()
    idle_seconds = models.PositiveIntegerField()
    net = models.DecimalField(**MONEY_FIELD)
    tax = models.DecimalField(**MONEY_FIELD)
    total = models.DecimalField(**MONEY_FIELD)
    # What the wallet paid; `uncollected` is what the balance could not cover (no overdraft).
    charged = models.DecimalField(**MONEY_FIELD)
    uncollected = models.DecimalField(**MONEY_FIELD, default=ZERO)
    free = models.BooleanField(
        default=False, help_text="A personal card: priced for the record, never charged"
    )
    breakdown = models.JSONField(default=list, help_text="Lines: label, quantity, unit price, amount")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Transaction {self.transaction_id}: {format_money(self.total, self.currency)}"


# The QR-code payment flow (billing.payments) -------------------------------------------


def _new_payment_token() -> str:
    return secrets.token_urlsafe(16)  # 128 bits, 22 characters: the live page's address


class PaymentQuerySet(models.QuerySet):
    def live(self):
        return self.filter(state__in=Payment.LIVE_STATES)


class ConditionalStates(models.Model):
    """A model whose `state` changes only by `_move`: a conditional UPDATE on the state it expects."""

    class Meta:
        abstract = True

    def _move(self, expected, to, **fields) -> bool:
        """The one way a state changes: UPDATE … WHERE state IN expected. False: someone else moved it first."""
        expected = [expected] if isinstance(expected, str) else list(expected)
        moved = type(self).objects.filter(pk=self.pk, state__in=expected).update(state=to, **fields)
        if moved:
            self.state = to
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(moved)


class Payment(ConditionalStates):
    """A driver's payment for one charging session at one connector: a small state machine.

    Every transition is a conditional UPDATE on the state it expects (`_move`), so a repeated
    webhook, a double click, the sweep racing a handler or a restart in the middle moves it at
    most once. Money itself moves in the wallet's ledger or at the gateway (billing.payments).
    """

    class Method(models.TextChoices):
        WALLET = "wallet", _("wallet")
        CARD = "card", _("card")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for the card payment")
        HELD = "held", _("held")
        STARTING = "starting", _("starting")
        CHARGING = "charging", _("started")
        CAPTURING = "capturing", _("being collected")
        SETTLED = "settled", _("settled")
        RELEASING = "releasing", _("being given back")
        RELEASED = "released", _("released")
        REFUNDED = "refunded", _("refunded")
        FAILED = "failed", _("failed")

    # At most one of these per connector (the database says so): the connector is taken.
    LIVE_STATES = (State.PENDING, State.HELD, State.STARTING, State.CHARGING)
    FINAL_STATES = (State.SETTLED, State.RELEASED, State.REFUNDED, State.FAILED)
    # What the JSON API calls each state (its contract: authorized, starting, charging, finished,
    # cancelled; "pending" while a card checkout is still open, before any money is held).
    API_STATUS = {
        State.PENDING: "pending",
        State.HELD: "authorized",
        State.STARTING: "starting",
        State.CHARGING: "charging",
        State.CAPTURING: "finished",
        State.SETTLED: "finished",
        State.RELEASING: "cancelled",
        State.RELEASED: "cancelled",
        State.REFUNDED: "cancelled",
        State.FAILED: "cancelled",
    }

    token = models.CharField(max_length=32, unique=True, default=_new_payment_token, editable=False)
    id_tag = models.CharField("idTag", max_length=20, unique=True, editable=False)
    driver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    charger = models.ForeignKey("stations.Charger", on_delete=models.PROTECT, related_name="payments")
    connector_id = models.PositiveIntegerField()
    method = models.CharField(max_length=8, choices=Method.choices)
    gateway = models.CharField(max_length=20, help_text="wallet, or the card gateway's name")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY_FIELD, help_text="What the driver authorised")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    transaction = models.OneToOneField(
        "stations.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="payment"
    )
    cost = models.DecimalField(**MONEY_FIELD, null=True, blank=True, help_text="The session's priced total")
    captured = models.DecimalField(
        **MONEY_FIELD, null=True, blank=True, help_text="What the driver pays: the cost, at most the amount"
    )
    refunded = models.DecimalField(**MONEY_FIELD, null=True, blank=True, help_text="What was given back")
    site_loss = models.DecimalField(
        **MONEY_FIELD, default=ZERO, help_text="Delivered past the paid amount: the site's, not the driver's"
    )
    failure_reason = models.CharField(max_length=200, blank=True)
    attention = models.CharField(max_length=300, blank=True, help_text="Why staff must look at it")
    payment_url = models.URLField(max_length=2000, blank=True, help_text="The gateway's checkout page")
    gateway_reference = models.CharField(max_length=255, blank=True, help_text="e.g. a Checkout Session id")
    gateway_payment = models.CharField(max_length=255, blank=True, help_text="e.g. a PaymentIntent id")
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    source = models.CharField(max_length=16, default="web", help_text="web or api")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed gateway calls in a row")
    retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the money was held")
    authorization_expires_at = models.DateTimeField(null=True, blank=True)
    start_sent_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two drivers paying for one connector at once: the second INSERT fails, before money moves.
            models.UniqueConstraint(
                fields=["charger", "connector_id"],
                condition=Q(state__in=["pending", "held", "starting", "charging"]),
                name="one_live_payment_per_connector",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="payment_state")]

    def __str__(self):
        return f"Payment {self.pk}: {format_money(self.amount, self.currency)} ({self.state})"

    @property
    def api_status(self) -> str:
        return self.API_STATUS[self.state]

    @property
    def is_live(self) -> bool:
        return self.state in self.LIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def can_stop(self) -> bool:
        return self.state in self.LIVE_STATES

    @property
    def needs_attention(self) -> bool:
        from billing.payments import needs_attention  # the thresholds live with the flow

        return needs_attention(self)

    def confirm(self, *, at, gateway_payment: str = "", expires_at=None) -> bool:
        """pending → held: the money is confirmed. Guards a webhook delivered twice, or racing the
        sweep's own query to the gateway: it is confirmed (and the start sent) once."""
        return self._move(
            self.State.PENDING,
            self.State.HELD,
            confirmed_at=at,
            gateway_payment=gateway_payment or self.gateway_payment,
            authorization_expires_at=expires_at,
        )

    def mark_start_sent(self, *, at) -> bool:
        """held → starting. Guards the webhook, its replay and the sweep all trying to start the
        session: exactly one RemoteStartTransaction goes out."""
        return self._move(self.State.HELD, self.State.STARTING, start_sent_at=at)

    def link(self, *, transaction_id: int) -> bool:
        """held/starting → charging, the session linked. Guards a StartTransaction racing the start
        timeout (or the driver's cancel): the session is linked or the money given back, never both."""
        return self._move(
            (self.State.HELD, self.State.STARTING), self.State.CHARGING, transaction_id=transaction_id
        )

    def mark_stop_requested(self, *, at, unless_since=None) -> bool:
        """Note a RemoteStopTransaction about to go out. Guards the budget watch and the driver's button
        (or two clicks) sending it twice: only one caller gets True unless the last try is older
        than `unless_since` (a stop the charger never acted on is sent again)."""
        pending = Q(stop_requested_at__isnull=True)
        if unless_since is not None:
            pending |= Q(stop_requested_at__lt=unless_since)
        moved = Payment.objects.filter(pending, pk=self.pk, state=self.State.CHARGING).update(
            stop_requested_at=at
        )
        if moved:
            self.stop_requested_at = at
        return bool(moved)

    def end(self, *, to, at, cost, captured, site_loss) -> bool:
        """charging → capturing (a gateway still has to take it) or settled (the wallet took it in
        this transaction). Guards two StopTransactions of one session racing: priced and charged once."""
        refunded = self.amount - captured if to == self.State.SETTLED else None
        return self._move(
            self.State.CHARGING,
            to,
            ended_at=at,
            cost=cost,
            captured=captured,
            site_loss=site_loss,
            refunded=refunded,
        )

    def finish_capture(self, *, at) -> bool:
        """capturing → settled. Guards a capture retried after a crash racing the gateway's webhook:
        the payment is settled once."""
        return self._move(
            self.State.CAPTURING,
            self.State.SETTLED,
            refunded=self.amount - self.captured,
            attention="",
            retry_at=None,
            attempts=0,
        )

    def give_back(self, *, reason: str, at, to=None) -> bool:
        """pending/held/starting → releasing (the gateway still has to give it back) or straight to
        released (the wallet gives it back in this transaction). Guards a late StartTransaction, the
        driver's cancel and the start timeout racing each other: exactly one of them wins."""
        to = to or self.State.RELEASING
        refunded = self.amount if to == self.State.RELEASED else None
        return self._move(
            self.LIVE_STATES[:3], to, failure_reason=reason[:200], ended_at=at, refunded=refunded
        )

    def finish_release(self, *, to) -> bool:
        """releasing → released/refunded. Guards a retried cancel racing the gateway's webhook."""
        return self._move(
            self.State.RELEASING, to, refunded=self.amount, attention="", retry_at=None, attempts=0
        )

    def fail(self, *, reason: str, at) -> bool:
        """pending → failed: the card payment was never confirmed. Guards the checkout's expiry racing
        its completion: when completion wins this does nothing; when this wins, a late authorisation
        is cancelled at once (billing.payments.on_gateway_event)."""
        return self._move(self.State.PENDING, self.State.FAILED, failure_reason=reason[:200], ended_at=at)

    def note_problem(self, *, attention: str, retry_at) -> None:
        """A gateway call failed: staff see why, and the sweep tries again at `retry_at`."""
        Payment.objects.filter(pk=self.pk).update(
            attention=attention[:300], retry_at=retry_at, attempts=models.F("attempts") + 1
        )
        self.attention, self.retry_at, self.attempts = attention[:300], retry_at, self.attempts + 1


# A driver's wallet topped up online through the card gateway (billing.topups) ------------------------


class OnlineTopUp(ConditionalStates):
    """A driver's attempt to top up their wallet by card at the gateway; credited only once the gateway
    confirms the money taken (its signed webhook, or the sweep asking it), by exactly one TOP_UP ledger
    entry whose idempotency key is the gateway's payment id.

    Not a Payment: that is money held for one session at one connector (an idTag, a charger, the one
    live payment per connector); a top-up is money received for the wallet, with none of those.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for confirmation")
        CREDITED = "credited", _("credited")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    token = models.CharField(max_length=32, unique=True, default=_new_payment_token, editable=False)
    driver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="online_top_ups"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="online_top_ups")
    gateway = models.CharField(max_length=20, help_text="The card gateway's name")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(**MONEY_FIELD, help_text="What the driver chose to add")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    payment_url = models.URLField(max_length=2000, blank=True, help_text="The gateway's checkout page")
    gateway_reference = models.CharField(max_length=255, blank=True, help_text="e.g. a Checkout Session id")
    gateway_payment = models.CharField(max_length=255, blank=True, help_text="e.g. a PaymentIntent id")
    ledger_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="online_top_up"
    )
    failure_reason = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    source = models.CharField(max_length=16, default="web", help_text="web or api")
    created_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it failed or expired")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="online_top_up_amount_positive")
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="online_top_up_state")]

    def __str__(self):
        return f"Online top-up {self.pk}: {format_money(self.amount, self.currency)} ({self.state})"

    def mark_credited(self, *, entry: "LedgerEntry", at) -> bool:
        """pending → credited, with its ledger entry; also from failed or expired, for money the gateway
        took at the very moment the checkout was given up (credited, not lost). Guards the webhook
        delivered twice, or racing the sweep's own query to the gateway: credited once."""
        pending_or_given_up = (self.State.PENDING, self.State.FAILED, self.State.EXPIRED)
        return self._move(pending_or_given_up, self.State.CREDITED, ledger_entry=entry, credited_at=at)

    def give_up(self, *, to: str, reason: str, at) -> bool:
        """pending → failed or expired: nothing was taken. Guards the checkout's expiry racing its
        payment: when the confirmation wins this does nothing (and a late one still credits)."""
        return self._move(self.State.PENDING, to, failure_reason=reason[:200], ended_at=at)


class GatewayEvent(models.Model):
    """A webhook event from a payment gateway, stored once by its id: a redelivery is recognised."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payment = models.ForeignKey(
        Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="gateway_events"
    )
    top_up = models.ForeignKey(
        OnlineTopUp, on_delete=models.SET_NULL, null=True, blank=True, related_name="gateway_events"
    )
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="one_gateway_event_per_id")
        ]

    def __str__(self):
        return f"{self.provider} {self.event_type} {self.event_id}"
