from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from csms.admin import FormattedAdmin, site_time
from rfid.models import AuthorizationRefusal, IdTag


@admin.register(IdTag)
class IdTagAdmin(FormattedAdmin):
    list_display = (
        "id_tag",
        "owner",
        "mode",
        "status",
        "valid_through_day",
        "account",
        "parent_id_tag",
        "created_at",
    )
    list_filter = ("status", "mode")
    search_fields = (
        "id_tag",
        "parent_id_tag",
        "owner__name",
        "owner__username",
        "owner__phone",
        "owner__email",
    )
    list_select_related = ("owner", "account")
    autocomplete_fields = ("owner",)
    # The wallet link and the replacement chain carry money; they change only through the desk services.
    readonly_fields = ("account", "replaces", "created_at")

    @admin.display(description=_("valid through"), ordering="expires_at")
    def valid_through_day(self, card):
        """The last valid day in the site's zone: expires_at is the first moment the card is not valid."""
        return site_time(card.valid_through)


@admin.register(AuthorizationRefusal)
class AuthorizationRefusalAdmin(FormattedAdmin):
    list_display = ("created_at", "id_tag", "status", "reason", "charger")
    list_filter = ("status",)
    search_fields = ("id_tag", "reason", "charger__charge_point_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
