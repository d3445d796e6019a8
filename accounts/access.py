"""Who may open a staff page: one decorator, one permission per page.

Roles are Django groups that carry permissions; pages ask for a permission, never for a group,
so a superuser (and anyone an admin gives the permission to) passes too. The permissions the
staff web asks for are named here so pages, the navigation bar and the API ask the same question.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

SEE_CHARGERS = "stations.view_charger"  # the dashboard, chargers and their pages
OPERATE_CHARGERS = "stations.operate_charger"  # commands to a charger
REGISTER_CHARGERS = "stations.add_charger"  # register a charger (admins)
CHANGE_CHARGERS = "stations.change_charger"  # a charger's password, approval, tariff (admins)
SEE_SESSIONS = "stations.view_transaction"  # sessions and the reports
SEE_DRIVERS = "accounts.view_user"  # drivers: contact details, consumption, balance
SEE_CARDS = "rfid.view_idtag"  # cards and their spending
WORK_THE_DESK = "rfid.use_front_desk"  # top up, issue, block, replace, receipts
SEE_PAYMENTS = "billing.view_payment"  # the QR pay flow's payments and what needs a person
MANAGE_STAFF = "accounts.manage_staff"  # staff accounts and their roles (/staff/): admins
# The API's own (/api/v1/): what the front desk does there is read drivers and cards and top up.
MANAGE_CARDS = "rfid.manage_cards"  # issue, block and replace cards through the API: admins
SEE_TARIFFS = "billing.view_tariff"  # operators and admins
CHANGE_TARIFFS = "billing.change_tariff"  # create and change tariffs: admins
SEE_LEDGER = "billing.view_ledger"  # every wallet's entries: operators and admins


def staff_page(permission: str):
    """Signed out: sent to sign in (and back here after). Signed in without the permission: a 403 page."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not (user.is_active and user.has_perm(permission)):
                return render(request, "accounts/no_role.html", status=403)
            return view(request, *args, **kwargs)

        return guarded

    return decorate
