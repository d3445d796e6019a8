"""Tariffs, the wallet (an account per driver or anonymous card) and its append-only ledger."""

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q

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
        TOP_UP = "top_up", "top-up"
        SESSION_CHARGE = "session_charge", "session charge"
        REFUND = "refund"
        HOLD = "hold"
        RELEASE = "release"
        ADJUSTMENT = "adjustment", "staff adjustment"

    class PaymentMethod(models.TextChoices):
        CASH = "cash"
        CARD = "card"
        OTHER = "other"

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
