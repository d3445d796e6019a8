from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import FailedSignIn, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "name", "phone", "email", "is_staff", "is_active")
    search_fields = ("username", "name", "phone", "email")
    fieldsets = BaseUserAdmin.fieldsets + (("Driver", {"fields": ("name", "phone")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Driver", {"fields": ("name", "phone")}),)


@admin.register(FailedSignIn)
class FailedSignInAdmin(admin.ModelAdmin):
    list_display = ("created_at", "username", "remote_address", "throttled")
    list_filter = ("throttled",)
    search_fields = ("username", "=remote_address")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
