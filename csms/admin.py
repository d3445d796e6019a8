"""What the admin may never do to history, for every app."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """History (what chargers sent, money that moved): staff look in the admin; only the services write.

    No deleting either: a session, a meter value or a ledger row deleted by a
    click would change bills and balances after the fact.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
