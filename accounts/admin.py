from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "name", "phone", "email", "is_staff", "is_active")
    search_fields = ("username", "name", "phone", "email")
    fieldsets = BaseUserAdmin.fieldsets + (("Driver", {"fields": ("name", "phone")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Driver", {"fields": ("name", "phone")}),)
