"""Staff sign-in, where each person starts, and drivers: the list and its search, a driver's page
with cards, wallet and consumption, and registering one at the front desk."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import access, roles, staff
from accounts.access import SEE_DRIVERS, WORK_THE_DESK, staff_page
from accounts.forms import AccountActiveForm, DriverForm, RoleForm, SignInForm, StaffAccountForm
from billing import services as billing_services
from rfid import services as rfid_services
from rfid.desk import is_front_desk
from rfid.forms import DriverSearchForm

DRIVERS_PER_PAGE = 50
SESSIONS_SHOWN = 50  # a driver's latest sessions; all of them are on the sessions page
ENTRIES_SHOWN = 100  # the wallet's latest ledger entries


class SignInView(auth_views.LoginView):
    """The one sign-in for all staff. Django's LoginView names the host in `site_name`: the site's own name wins."""

    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "site_name": settings.SITE_NAME}


def home(request):
    """Where each person starts: operators and admins at the dashboard, the front desk at its drivers."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.has_perm(access.SEE_CHARGERS):
        return redirect(_first_page_built("dashboard", "charger_list"))
    if is_front_desk(request.user):
        return redirect(_first_page_built("driver_list", "desk:search"))
    return render(request, "accounts/no_role.html", status=403)


@staff_page(SEE_DRIVERS)
def driver_list(request):
    form = DriverSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    drivers = rfid_services.drivers_listed(query=query)
    page = Paginator(drivers, DRIVERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/driver_list.html", {"form": form, "page": page})


@staff_page(SEE_DRIVERS)
def driver_detail(request, pk):
    driver = get_object_or_404(get_user_model().objects.drivers(), pk=pk)  # never a staff account
    cards = list(rfid_services.cards_with_state().filter(owner=driver))
    wallet = getattr(driver, "wallet", None)
    sessions = billing_services.consumption([card.id_tag for card in cards])  # replaced cards are theirs too
    context = {
        "driver": driver,
        "cards": cards,
        "wallet": wallet,
        "entries": rfid_services.latest_entries(account=wallet, limit=ENTRIES_SHOWN),
        "entry_count": wallet.entries.count() if wallet else 0,
        "sessions": sessions[:SESSIONS_SHOWN],
        "session_count": sessions.count(),
    }
    return render(request, "accounts/driver_detail.html", context)


@staff_page(WORK_THE_DESK)
@require_http_methods(["GET", "POST"])
def driver_new(request):
    form = DriverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        driver = form.save()
        messages.success(
            request, _("Driver %(driver)s registered; now issue their card.") % {"driver": driver}
        )
        return redirect(f"{reverse('card_new')}?owner={driver.pk}")
    return render(request, "accounts/driver_new.html", {"form": form})


# Staff and their roles: admins only (accounts.staff says what may change) ----------------


def _first_page_built(*url_names: str) -> str:
    """The first of these pages the site has (some are built later than others)."""
    for name in url_names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    raise NoReverseMatch(f"none of {url_names}")


@staff_page(access.MANAGE_STAFF)
def staff_list(request):
    rows = [_staff_row(person) for person in staff.staff_members()]
    return render(request, "accounts/staff_list.html", {"rows": rows})


def _staff_row(person) -> dict:
    held = staff.roles_of(person)
    return {
        "person": person,
        "roles": [roles.ROLE_LABELS[role] for role in held],
        "role_form": RoleForm(initial={"role": held[0] if held else None}, auto_id=f"role-{person.pk}-%s"),
    }


@staff_page(access.MANAGE_STAFF)
@require_http_methods(["GET", "POST"])
def staff_new(request):
    form = StaffAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = staff.add_staff(account=form.save(commit=False), role=form.cleaned_data["role"])
        role = roles.ROLE_LABELS[form.cleaned_data["role"]]
        messages.success(
            request, _("%(person)s can now sign in, as %(role)s.") % {"person": person, "role": role}
        )
        return redirect("staff_list")
    return render(request, "accounts/staff_new.html", {"form": form})


@staff_page(access.MANAGE_STAFF)
@require_http_methods(["POST"])
def staff_role(request, pk):
    person = get_object_or_404(staff.staff_members(), pk=pk)
    form = RoleForm(request.POST)
    if form.is_valid():
        role = form.cleaned_data["role"]
        done = _("%(person)s is now %(role)s.") % {"person": person, "role": roles.ROLE_LABELS[role]}
        _change_staff(request, done, staff.give_role, by=request.user, person=person, role=role)
    return redirect("staff_list")


@staff_page(access.MANAGE_STAFF)
@require_http_methods(["POST"])
def staff_active(request, pk):
    person = get_object_or_404(staff.staff_members(), pk=pk)
    form = AccountActiveForm(request.POST)
    if form.is_valid():
        active = form.cleaned_data["active"]
        done = (_("%(person)s may sign in again.") if active else _("%(person)s can no longer sign in.")) % {
            "person": person
        }
        _change_staff(request, done, staff.set_active, by=request.user, person=person, active=active)
    return redirect("staff_list")


def _change_staff(request, done: str, change, **arguments) -> None:
    """Make the change, and say what happened or why it was refused."""
    try:
        change(**arguments)
    except staff.Refused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, done)
