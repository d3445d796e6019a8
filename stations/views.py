from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from stations import commands, outcomes
from stations.forms import OPERATIONS
from stations.models import Charger, Command

OUTCOME_LEVELS = {Command.Status.ACCEPTED: messages.SUCCESS, Command.Status.REJECTED: messages.WARNING}


def index(request):
    return redirect("admin:index")


def healthz(request):
    """For load balancers and systemd: the process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@staff_member_required
def charger_list(request):
    chargers = Charger.objects.prefetch_related("connectors")
    return render(request, "stations/charger_list.html", {"chargers": chargers})


@staff_member_required
def charger_detail(request, charge_point_id):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    return render(request, "stations/charger_detail.html", _detail_context(request, charger))


@require_POST
@staff_member_required
@permission_required("stations.operate_charger", raise_exception=True)
def charger_operate(request, charge_point_id, operation):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    if operation not in OPERATIONS:
        raise Http404("No such operation")
    form = OPERATIONS[operation](request.POST, prefix=operation)
    if not form.is_valid():
        context = _detail_context(request, charger, invalid=(operation, form))
        return render(request, "stations/charger_detail.html", context, status=400)
    try:
        command = commands.send(
            charger=charger,
            action=form.action,
            payload=form.payload(charger),
            user=request.user,
            source=Command.Source.WEB,
        )
    except commands.CommandRefused as refused:
        messages.error(request, f"{form.title}: not sent, {refused}")
    else:
        level = OUTCOME_LEVELS.get(command.status, messages.ERROR)
        messages.add_message(request, level, f"{form.title}: {command.outcome_text}")
    return redirect("charger_detail", charge_point_id=charger.charge_point_id)


def _detail_context(request, charger: Charger, invalid=None) -> dict:
    """Everything the charger page shows; `invalid` is a bound form to show with its errors."""
    forms = {slug: form_class(prefix=slug) for slug, form_class in OPERATIONS.items()}
    if invalid:
        forms[invalid[0]] = invalid[1]
    return {
        "charger": charger,
        "connectors": charger.connectors.all(),
        "active_transactions": charger.transactions.filter(stopped_at__isnull=True),
        "configuration": charger.configuration.all(),
        "unknown_keys": outcomes.unknown_configuration_keys(charger),
        "reservations": charger.reservations.select_related("requested_by")[:20],
        "history": charger.commands.select_related("requested_by")[:50],
        "forms": forms.items(),
        "can_operate": request.user.has_perm("stations.operate_charger"),
    }
