from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import FailedSignIn, User
from csms.admin import FormattedAdmin, SiteFormats


@admin.register(User)
class UserAdmin(SiteFormats, BaseUserAdmin):
    list_display = ("username", "name", "phone", "email", "is_staff", "is_active")
    search_fields = ("username", "name", "phone", "email")
    fieldsets = BaseUserAdmin.fieldsets + ((_("Driver"), {"fields": ("name", "phone")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((_("Driver"), {"fields": ("name", "phone")}),)


@admin.register(FailedSignIn)
class FailedSignInAdmin(FormattedAdmin):
    list_display = ("created_at", "username", "remote_address", "throttled")
    list_filter = ("throttled",)
    search_fields = ("username", "=remote_address")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
