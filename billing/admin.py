from django.contrib import admin

from billing.models import Account, LedgerEntry, SessionCharge, Tariff, TariffAssignment, TariffPeriod
from csms.admin import ReadOnlyAdmin


class TariffPeriodInline(admin.TabularInline):
    model = TariffPeriod
    extra = 0


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Editable by staff holding billing.change_tariff (not the front desk)."""

    list_display = (
        "name",
        "currency",
        "price_per_kwh",
        "price_per_hour",
        "session_fee",
        "idle_fee_per_hour",
        "min_balance_to_start",
        "tax_percent",
        "allow_overdraft",
        "is_default",
    )
    list_filter = ("currency", "is_default", "allow_overdraft")
    search_fields = ("name",)
    inlines = [TariffPeriodInline]


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(admin.ModelAdmin):
    list_display = ("charger", "connector_id", "tariff")
    list_filter = ("tariff",)
    search_fields = ("charger__charge_point_id", "charger__name", "tariff__name")
    list_select_related = ("charger", "tariff")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "currency", "balance", "created_at")
    list_filter = ("currency",)
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


@admin.register(SessionCharge)
class SessionChargeAdmin(ReadOnlyAdmin):
    list_display = (
        "transaction",
        "card",
        "currency",
        "energy_wh",
        "total",
        "charged",
        "uncollected",
        "free",
        "created_at",
    )
    list_filter = ("free", "currency")
    search_fields = ("card__id_tag", "transaction__id_tag", "transaction__charger__charge_point_id")
    date_hierarchy = "created_at"
    list_select_related = ("transaction", "card")
