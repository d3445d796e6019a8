from django.contrib import admin

from rfid.models import AuthorizationRefusal, IdTag


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    list_display = (
        "id_tag",
        "owner",
        "mode",
        "status",
        "expires_at",
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


@admin.register(AuthorizationRefusal)
class AuthorizationRefusalAdmin(admin.ModelAdmin):
    list_display = ("created_at", "id_tag", "status", "reason", "charger")
    list_filter = ("status",)
    search_fields = ("id_tag", "reason", "charger__charge_point_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
