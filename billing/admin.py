from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing.models import (
    Account,
    GatewayEvent,
    LedgerEntry,
    OnlineTopUp,
    Payment,
    SessionCharge,
    Tariff,
    TariffAssignment,
    TariffPeriod,
)
from csms.admin import FormattedAdmin, ReadOnlyAdmin, rate_text

SESSION_MONEY = {field: "currency" for field in ("net", "tax", "total", "charged", "uncollected")}
PAYMENT_MONEY = {field: "currency" for field in ("amount", "cost", "captured", "refunded", "site_loss")}


class TariffPeriodInline(admin.TabularInline):
    model = TariffPeriod
    extra = 0


@admin.register(Tariff)
class TariffAdmin(FormattedAdmin):
    """Editable by staff holding billing.change_tariff (not the front desk)."""

    list_display = (
        "name",
        "currency",
        "per_kwh",
        "per_hour",
        "fee_per_session",
        "idle_per_hour",
        "min_balance_to_start",
        "tax_percent",
        "allow_overdraft",
        "is_default",
    )
    money = {"min_balance_to_start": "currency"}
    list_filter = ("currency", "is_default", "allow_overdraft")
    search_fields = ("name",)
    inlines = [TariffPeriodInline]

    # Rates keep the precision they were typed with (0.3249 EUR/kWh), never fewer than the currency's decimals.
    @admin.display(description=_("price per kWh"), ordering="price_per_kwh")
    def per_kwh(self, tariff):
        return rate_text(tariff.price_per_kwh, tariff.currency, "kWh")

    @admin.display(description=_("price per hour"), ordering="price_per_hour")
    def per_hour(self, tariff):
        return rate_text(tariff.price_per_hour, tariff.currency, "h")

    @admin.display(description=_("session fee"), ordering="session_fee")
    def fee_per_session(self, tariff):
        return rate_text(tariff.session_fee, tariff.currency, _("session"))

    @admin.display(description=_("idle fee per hour"), ordering="idle_fee_per_hour")
    def idle_per_hour(self, tariff):
        return rate_text(tariff.idle_fee_per_hour, tariff.currency, "h")


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(FormattedAdmin):
    list_display = ("charger", "connector_id", "tariff")
    list_filter = ("tariff",)
    search_fields = ("charger__charge_point_id", "charger__name", "tariff__name")
    list_select_related = ("charger", "tariff")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "balance", "created_at")
    list_filter = ("currency",)
    money = {"balance": "currency"}
    search_fields = ("owner__name", "owner__username", "owner__phone", "cards__id_tag")
    list_select_related = ("owner",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "card",
        "payment_method",
        "created_by",
        "source",
        "reason",
    )
    list_filter = ("kind", "payment_method", "source")
    search_fields = ("card__id_tag", "account__owner__name", "account__owner__username", "reason", "source")
    date_hierarchy = "created_at"
    list_select_related = ("account__owner", "card", "created_by")
    money = {"amount": "account__currency", "balance_after": "account__currency"}


@admin.register(SessionCharge)
class SessionChargeAdmin(ReadOnlyAdmin):
    list_display = (
        "transaction",
        "card",
        "energy_kwh",
        "total",
        "charged",
        "uncollected",
        "free",
        "created_at",
    )
    money = SESSION_MONEY
    list_filter = ("free", "currency")
    search_fields = ("card__id_tag", "transaction__id_tag", "transaction__charger__charge_point_id")
    date_hierarchy = "created_at"
    list_select_related = ("transaction", "card")

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, charge):
        return f"{charge.energy_wh / 1000:.3f}"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """QR-code payments: only billing.payments moves them (every change a conditional update)."""

    list_display = (
        "created_at",
        "charger",
        "connector_id",
        "method",
        "state",
        "amount",
        "captured",
        "refunded",
        "site_loss",
        "driver",
        "attention",
    )
    list_filter = ("state", "method", "gateway")
    search_fields = (
        "id_tag",
        "charger__charge_point_id",
        "driver__name",
        "driver__username",
        "gateway_payment",
    )
    date_hierarchy = "created_at"
    list_select_related = ("charger", "driver")
    money = PAYMENT_MONEY
    exclude = ("token",)  # the driver's live page address: a secret even from staff


@admin.register(OnlineTopUp)
class OnlineTopUpAdmin(ReadOnlyAdmin):
    """Drivers' online wallet top-ups: only billing.topups moves them; the money is the ledger entry's."""

    list_display = (
        "created_at",
        "driver",
        "amount",
        "state",
        "gateway",
        "gateway_payment",
        "ledger_entry",
        "failure_reason",
        "credited_at",
    )
    list_filter = ("state", "gateway", "failure_reason")
    search_fields = (
        "driver__name",
        "driver__username",
        "driver__phone",
        "gateway_reference",
        "gateway_payment",
    )
    date_hierarchy = "created_at"
    list_select_related = ("driver", "ledger_entry__account")
    money = {"amount": "currency"}
    exclude = ("token",)  # the driver's page address


@admin.register(GatewayEvent)
class GatewayEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider", "event_type", "event_id", "payment", "top_up", "handled_at")
    list_filter = ("provider", "event_type")
    search_fields = ("event_id",)
    list_select_related = ("payment", "top_up")
