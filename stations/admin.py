from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from csms.admin import FormattedAdmin, ReadOnlyAdmin, SiteFormats
from stations import commands, outcomes
from stations.forms import operation_forms, protocol_of
from stations.models import (
    DEVICE_MODEL_KEY,
    Charger,
    ChargerConfigurationKey,
    ChargerEvent,
    Command,
    ConnectionAttempt,
    Connector,
    DataTransferMessage,
    DeviceModelVariable,
    MessageLog,
    MeterValue,
    RefusedRecord,
    Reservation,
    SiteConfiguration,
    StatusNotification,
    Transaction,
    TransactionEvent,
    UnknownTransactionStop,
)


@admin.register(SiteConfiguration)
class SiteConfigurationAdmin(FormattedAdmin):
    list_display = ("__str__", "accept_unknown_chargers")

    def has_add_permission(self, request):
        # The add permission too: a staff account without it once created the row, "accept unknown" on.
        return super().has_add_permission(request) and not SiteConfiguration.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class ConnectorInline(SiteFormats, admin.TabularInline):
    model = Connector
    extra = 0
    fields = readonly_fields = (
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "status_at",
    )
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Charger)
class ChargerAdmin(FormattedAdmin):
    list_display = (
        "charge_point_id",
        "name",
        "approval",
        "online",
        "connected_since",
        "last_seen_at",
        "vendor",
        "model",
        "firmware_version",
        "ocpp_version",
    )
    list_filter = ("approval", "is_connected", "vendor", "ocpp_version")
    search_fields = (
        "charge_point_id",
        "name",
        "serial_number",
        "charge_box_serial_number",
        "vendor",
        "model",
    )
    inlines = [ConnectorInline]
    actions = ["approve", "reject", "reset_soft", "clear_cache", "get_configuration", "trigger_status"]
    # What the charger and its connection report: shown, never edited (staff edit the first fieldset only).
    CONNECTION = (
        "is_connected",
        "connected_since",
        "disconnected_at",
        "last_seen_at",
        "last_boot_at",
        "boot_reason",
        "last_heartbeat_at",
        "remote_address",
        "ocpp_version",
    )
    REPORTED = (
        "vendor",
        "model",
        "serial_number",
        "charge_box_serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "firmware_status",
        "firmware_status_at",
        "diagnostics_status",
        "diagnostics_status_at",
    )
    readonly_fields = (*CONNECTION, *REPORTED, "created_at")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "charge_point_id",
                    "name",
                    "approval",
                    "security_profile",
                    "new_password",
                    "clear_password",
                )
            },
        ),
        (_("Connection"), {"fields": CONNECTION}),
        (_("Reported by the charger"), {"fields": REPORTED}),
    )

    def lookup_allowed(self, lookup, value, request=None):
        """Never filter by the password hash: ?password__startswith= read hashes out a character at a time."""
        if lookup.partition("__")[0] == "password":
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_form(self, request, obj=None, **kwargs):
        from stations.forms import ChargerAdminForm

        kwargs["form"] = ChargerAdminForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(boolean=True, ordering="is_connected", description=_("online"))
    def online(self, charger):
        return charger.is_connected

    @admin.action(
        description=_("Approve selected chargers (Accepted at their next boot)"), permissions=["change"]
    )
    def approve(self, request, queryset):
        count = queryset.update(approval=Charger.Approval.ACCEPTED)
        done = ngettext("%(count)d charger approved.", "%(count)d chargers approved.", count)
        self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(
        description=_("Reject selected chargers (refused at their next connection)"), permissions=["change"]
    )
    def reject(self, request, queryset):
        count = queryset.update(approval=Charger.Approval.REJECTED)
        done = ngettext("%(count)d charger rejected.", "%(count)d chargers rejected.", count)
        self.message_user(request, done % {"count": count}, messages.WARNING)

    def has_operate_permission(self, request):
        return request.user.has_perm("stations.operate_charger")

    # The actions are the charger page's operations (stations.forms), filled in for each charger's protocol.

    @admin.action(
        description=_("Reset selected chargers gently (OCPP 1.6: Soft; 2.0.1: once idle)"),
        permissions=["operate"],
    )
    def reset_soft(self, request, queryset):
        # 2.0.1 has no Soft reset; OnIdle is the one that spares a driver's running session.
        self._send_to_each(request, queryset, "reset", {"1.6": {"type": "Soft"}, "2.0.1": {"type": "OnIdle"}})

    @admin.action(
        description=_("Clear the authorization cache of selected chargers"), permissions=["operate"]
    )
    def clear_cache(self, request, queryset):
        self._send_to_each(request, queryset, "clear-cache")

    @admin.action(description=_("Read the configuration of selected chargers"), permissions=["operate"])
    def get_configuration(self, request, queryset):
        self._send_to_each(request, queryset, "get-configuration")  # 2.0.1: the whole device model

    @admin.action(
        description=_("Ask selected chargers for their StatusNotifications"), permissions=["operate"]
    )
    def trigger_status(self, request, queryset):
        data = {"message": "StatusNotification"}
        self._send_to_each(request, queryset, "trigger", {"1.6": data, "2.0.1": data})

    def _send_to_each(self, request, queryset, operation: str, data_by_protocol: dict | None = None):
        """One command per charger, one after the other; offline chargers answer at once. `data_by_protocol`:
        the operation's form data for each protocol (none: its defaults)."""
        for charger in queryset:
            form = operation_forms(charger)[operation]((data_by_protocol or {}).get(protocol_of(charger), {}))
            if not form.is_valid():  # the data above is fixed: invalid is a bug, not a charger's answer
                raise ValueError(f"{operation}: {form.errors.as_json()}")
            action, payload = form.request(charger)
            command = commands.send(
                charger=charger,
                action=action,
                payload=payload,
                user=request.user,
                source=Command.Source.ADMIN,
            )
            level = messages.SUCCESS if command.status == Command.Status.ACCEPTED else messages.WARNING
            outcome = outcomes.describe(command)
            self.message_user(request, f"{charger.charge_point_id}: {action} {outcome}", level)


@admin.register(Connector)
class ConnectorAdmin(ReadOnlyAdmin):
    list_display = ("charger", "connector_id", "status", "error_code", "info", "status_at")
    list_filter = ("status", "error_code")
    search_fields = ("charger__charge_point_id",)
    list_select_related = ("charger",)


@admin.register(StatusNotification)
class StatusNotificationAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "charger", "connector_id", "status", "error_code", "info", "timestamp")
    list_filter = ("status", "error_code")
    search_fields = ("charger__charge_point_id", "info", "vendor_error_code")
    list_select_related = ("charger",)
    date_hierarchy = "received_at"


class MeterValueInline(SiteFormats, admin.TabularInline):
    model = MeterValue
    extra = 0
    fields = readonly_fields = ("timestamp", "measurand", "phase", "value", "unit", "context", "location")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "charger",
        "charger_transaction_id",
        "connector_id",
        "id_tag",
        "id_tag_status",
        "started_at",
        "stopped_at",
        "energy_kwh",
        "stop_reason",
    )
    list_filter = ("id_tag_status", "stop_reason", ("stopped_at", admin.EmptyFieldListFilter))
    search_fields = ("=id", "=charger_transaction_id", "id_tag", "charger__charge_point_id")
    list_select_related = ("charger",)
    date_hierarchy = "started_at"
    inlines = [MeterValueInline]

    @admin.display(description=_("energy (kWh)"))
    def energy_kwh(self, session):
        return None if session.energy_wh is None else f"{session.energy_wh / 1000:.3f}"


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdmin):
    list_display = (
        "timestamp",
        "charger",
        "connector_id",
        "transaction_id",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
    )
    list_filter = ("measurand", "context", "location")
    search_fields = ("charger__charge_point_id", "=transaction__id")
    list_select_related = ("charger",)


@admin.register(UnknownTransactionStop)
class UnknownTransactionStopAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "charger",
        "transaction_id",
        "charger_transaction_id",
        "id_tag",
        "meter_stop",
        "timestamp",
        "reason",
    )
    search_fields = ("charger__charge_point_id", "=transaction_id", "=charger_transaction_id", "id_tag")


@admin.register(DataTransferMessage)
class DataTransferMessageAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "charger", "vendor_id", "message_id", "data")
    search_fields = ("charger__charge_point_id", "vendor_id", "message_id", "data")


@admin.register(ConnectionAttempt)
class ConnectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "charge_point_id", "outcome", "remote_address", "subprotocols")
    list_filter = ("outcome",)
    search_fields = ("charge_point_id", "remote_address")
    date_hierarchy = "created_at"


@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "charge_point_id",
        "direction",
        "message_type",
        "action",
        "message_id",
        "short_payload",
    )
    list_filter = ("direction", "message_type", "action")
    search_fields = ("=charge_point_id", "=message_id", "payload")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) over millions of frames is the slow part of this page

    @admin.display(description=_("payload"))
    def short_payload(self, entry):
        return format_html("<code>{}</code>", entry.payload[:120])


@admin.register(RefusedRecord)
class RefusedRecordAdmin(ReadOnlyAdmin):
    """What the database refused to store from a charger, and why; everything else of its batch was stored."""

    list_display = ("created_at", "charge_point_id", "kind", "error")
    list_filter = ("kind",)
    search_fields = ("=charge_point_id",)
    date_hierarchy = "created_at"


@admin.register(Command)
class CommandAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "charger", "action", "status", "requested_by", "source", "answered_at")
    list_filter = ("status", "action", "source")
    search_fields = ("charger__charge_point_id", "action", "requested_by__username")
    list_select_related = ("charger", "requested_by")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False  # the history of who did what to a charger stays


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("id", "charger", "connector_id", "id_tag", "expires_at", "current_status", "requested_by")
    list_filter = ("status",)
    search_fields = ("=id", "charger__charge_point_id", "id_tag")
    list_select_related = ("charger", "requested_by")

    @admin.display(description=_("status"))
    def current_status(self, reservation):
        return reservation.effective_status


@admin.register(ChargerConfigurationKey)
class ChargerConfigurationKeyAdmin(ReadOnlyAdmin):
    list_display = ("charger", "key", "value", "readonly", "updated_at")
    list_filter = ("readonly",)
    search_fields = ("charger__charge_point_id", "key")
    list_select_related = ("charger",)


@admin.register(TransactionEvent)
class TransactionEventAdmin(ReadOnlyAdmin):
    """OCPP 2.0.1 TransactionEvents as received; those without a session are stops kept for staff."""

    list_display = (
        "received_at",
        "charger",
        "transaction_id",
        "seq_no",
        "event_type",
        "trigger_reason",
        "timestamp",
        "offline",
        "evse_id",
        "id_token",
        "session",
    )
    list_filter = ("event_type", "trigger_reason", "offline", ("session", admin.EmptyFieldListFilter))
    search_fields = ("charger__charge_point_id", "=transaction_id", "id_token")
    list_select_related = ("charger",)


@admin.register(DeviceModelVariable)
class DeviceModelVariableAdmin(ReadOnlyAdmin):
    """A 2.0.1 charger's device model, as its NotifyReports said."""

    list_display = (*DEVICE_MODEL_KEY, "value", "mutability", "updated_at")
    list_filter = ("component", "mutability")
    search_fields = ("charger__charge_point_id", "component", "variable", "value")
    list_select_related = ("charger",)


@admin.register(ChargerEvent)
class ChargerEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "charger", "kind", "timestamp", "name", "component", "variable", "value")
    list_filter = ("kind", "name")
    search_fields = ("charger__charge_point_id", "name", "component", "variable", "value")
    list_select_related = ("charger",)
