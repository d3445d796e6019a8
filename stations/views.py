import csv
import functools

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from billing.money import quantize_money
from billing.services import site_currency
from stations import commands, outcomes, reports
from stations.forms import OPERATIONS
from stations.models import Charger, Command

OUTCOME_LEVELS = {Command.Status.ACCEPTED: messages.SUCCESS, Command.Status.REJECTED: messages.WARNING}


def healthz(request):
    """For load balancers and systemd: the process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@staff_member_required(login_url="login")
def charger_list(request):
    chargers = Charger.objects.prefetch_related("connectors")
    return render(request, "stations/charger_list.html", {"chargers": chargers})


def answering_a_bad_range(view):
    """A date range a person typed wrong (reports.BadRange) is a 400 that says why, never a 500."""

    @functools.wraps(view)
    def answering(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except reports.BadRange as bad:
            return HttpResponseBadRequest(str(bad), content_type="text/plain; charset=utf-8")

    return answering


@staff_member_required(login_url="login")
@answering_a_bad_range
def charger_detail(request, charge_point_id):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    return render(request, "stations/charger_detail.html", _detail_context(request, charger))


@require_POST
@staff_member_required(login_url="login")
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
        **_charger_figures(request, charger),
    }


def _charger_figures(request, charger: Charger) -> dict:
    """The daily table and recent sessions, for those who may view sessions; raises BadRange."""
    if not request.user.has_perm(VIEW_SESSIONS):
        return {}
    first_day, last_day = reports.parse_range(request.GET, reports.last_30_days())
    return {
        "report": reports.daily_report(first_day, last_day, charger=charger),
        "recent_sessions": charger.transactions.select_related("charge")[:20],
    }


# Daily figures -------------------------------------------------------------

VIEW_SESSIONS = "stations.view_transaction"
CSV_HEADER = [
    "date",
    "charger",
    "sessions",
    "working_hours",
    "charging_hours",
    "energy_kwh",
    "fees",
    "currency",
]


def may_view_sessions(view):
    """Staff who may view sessions; signed-out people go to sign in, everyone else gets 403."""

    @functools.wraps(view)
    @login_required
    def guarded(request, *args, **kwargs):
        if not request.user.has_perm(VIEW_SESSIONS):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded


@may_view_sessions
@answering_a_bad_range
def daily_report(request):
    first_day, last_day = reports.parse_range(request.GET, reports.this_month())
    report = reports.daily_report(first_day, last_day)
    return render(request, "stations/report.html", {"report": report, "csv_query": request.GET.urlencode()})


@may_view_sessions
@answering_a_bad_range
def daily_report_csv(request):
    first_day, last_day = reports.parse_range(request.GET, reports.this_month())
    report = reports.daily_report(first_day, last_day)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="daily-{first_day}-{last_day}.csv"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    currency = site_currency()  # once: no query per row
    for row in report.rows:
        writer.writerows(_csv_lines(row, currency))
    return response


def _csv_lines(row: reports.DayFigures, currency: str) -> list[list]:
    """One line per charger and day; fees in a second currency on a line of their own."""
    fees = row.fee_lines or [(quantize_money(0, currency), currency)]
    figures = [row.sessions, row.working_hours, row.charging_hours, row.energy_kwh]
    lines = [[row.day.isoformat(), row.charge_point_id, *figures, *fees[0]]]
    for amount, other_currency in fees[1:]:
        lines.append(
            [row.day.isoformat(), row.charge_point_id, 0, "0.000", "0.000", "0.000", amount, other_currency]
        )
    return lines
