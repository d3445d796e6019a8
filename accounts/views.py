"""Drivers at the front desk: their cards, wallet and consumption."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.forms import DriverForm, SignInForm
from billing import services as billing_services
from rfid.desk import front_desk_required, is_front_desk


class SignInView(auth_views.LoginView):
    """The one sign-in for all staff. Django's LoginView names the host in `site_name`: the site's own name wins."""

    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "site_name": settings.SITE_NAME}


def home(request):
    """Where each person starts: operators and admins at the chargers, the front desk at its search."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.has_perm("stations.view_charger"):
        return redirect("charger_list")
    if is_front_desk(request.user):
        return redirect("desk:search")
    return render(request, "accounts/no_role.html", status=403)


@front_desk_required
def driver_detail(request, user_id):
    driver = get_object_or_404(get_user_model().objects.drivers(), pk=user_id)  # never a staff account
    cards = list(driver.cards.all())
    wallet = getattr(driver, "wallet", None)
    tags = [tag.id_tag for card in cards for tag in card.lineage()]
    return render(
        request,
        "accounts/driver_detail.html",
        {
            "driver": driver,
            "cards": cards,
            "wallet": wallet,
            "entries": billing_services.statement(wallet),
            "sessions": billing_services.consumption(tags),
        },
    )


@front_desk_required
@require_http_methods(["GET", "POST"])
def driver_new(request):
    form = DriverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        driver = form.save()
        messages.success(request, f"Driver {driver} registered; now issue their card.")
        return redirect(f"{reverse('desk:card_new')}?owner={driver.pk}")
    return render(request, "accounts/driver_new.html", {"form": form})
