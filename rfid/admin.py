from django.contrib import admin

from rfid.models import IdTag


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    list_display = ("id_tag", "status", "expires_at", "parent_id_tag", "created_at")
    list_filter = ("status",)
    search_fields = ("id_tag", "parent_id_tag")
