import csv
import functools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import access
from billing import pricing
from billing.money import quantize_money
from billing.services import site_currency
from stations import commands, outcomes, reports, security
from stations import dashboard as dashboard_page
from stations.forms import KEY_FORMS, OPERATION_FORMS, OPERATION_GROUPS, operation_forms, protocol_of
from stations.models import ENERGY_REGISTER, POWER_IMPORT, Charger, Command, Transaction

OUTCOME_LEVELS = {Command.Status.ACCEPTED: messages.SUCCESS, Command.Status.REJECTED: messages.WARNING}


def healthz(request):
    """For load balancers and systemd: the process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@access.staff_page(access.SEE_CHARGERS)
def dashboard(request):
    """The operators' home: every charger live; stations.dashboard builds it and keeps it moving."""
    return render(request, "stations/dashboard.html", dashboard_page.page_context())


@access.staff_page(access.SEE_CHARGERS)
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


@access.staff_page(access.SEE_CHARGERS)
@answering_a_bad_range
def charger_detail(request, charge_point_id):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    return render(request, "stations/charger_detail.html", _detail_context(request, charger))


@require_POST
@access.staff_page(access.OPERATE_CHARGERS)
def charger_operate(request, charge_point_id, operation):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    if not any(operation in forms for forms in OPERATION_FORMS.values()):
        raise Http404(_("No such operation"))
    if operation not in operation_forms(charger):  # a page from before the charger changed protocol
        messages.error(
            request,
            _("Not sent: an OCPP %(version)s charger has no “%(operation)s” operation.")
            % {"version": protocol_of(charger), "operation": operation},
        )
        return redirect("charger_detail", charge_point_id=charger.charge_point_id)
    form = operation_forms(charger)[operation](request.POST, prefix=operation)
    if not form.is_valid():
        context = _detail_context(request, charger, invalid=(operation, form))
        return render(request, "stations/charger_detail.html", context, status=400)
    return _send_from_page(request, charger, form)


KEY_PREFIX = "charger-key"


@sensitive_post_parameters(f"{KEY_PREFIX}-key")  # kept out of error reports
@require_POST
@access.staff_page(access.CHANGE_CHARGERS)
def charger_change_key(request, charge_point_id):
    """The charger's new password, sent as 1.6's ChangeConfiguration AuthorizationKey or 2.0.1's SetVariables
    SecurityCtrlr.BasicAuthPassword (stations.security)."""
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    form = KEY_FORMS[protocol_of(charger)](request.POST, prefix=KEY_PREFIX)
    if not form.is_valid():
        context = {**_detail_context(request, charger), "key_form": form}
        return render(request, "stations/charger_detail.html", context, status=400)
    return _send_from_page(request, charger, form)


def _send_from_page(request, charger: Charger, form):
    """Send a valid operation form's command; its outcome is a message on the charger page."""
    action, payload = form.request(charger)
    try:
        command = commands.send(
            charger=charger,
            action=action,
            payload=payload,
            user=request.user,
            source=Command.Source.WEB,
        )
    except commands.CommandRefused as refused:
        if _shown_on_fields(form, refused):
            context = _detail_context(request, charger, invalid=(form.prefix, form))
            return render(request, "stations/charger_detail.html", context, status=400)
        messages.error(
            request, _("%(operation)s: not sent, %(reason)s") % {"operation": form.title, "reason": refused}
        )
    else:
        level = OUTCOME_LEVELS.get(command.status, messages.ERROR)
        outcome = outcomes.describe(command)
        messages.add_message(
            request, level, _("%(operation)s: %(outcome)s") % {"operation": form.title, "outcome": outcome}
        )
    return redirect("charger_detail", charge_point_id=charger.charge_point_id)


def _shown_on_fields(form, refused: commands.CommandRefused) -> bool:
    """Put a refusal's problems on the form's fields when it names fields the form filled (the typed
    values stay, and the operator sees which one to change); False when it names none of them."""
    fields = {path: form.payload_fields[path] for path in refused.errors if path in form.payload_fields}
    if not fields:
        return False
    for path, problem in refused.errors.items():
        form.add_error(fields.get(path), problem)
    return True


def _detail_context(request, charger: Charger, invalid=None) -> dict:
    """Everything the charger page shows; `invalid` is a bound form to show with its errors."""
    forms = {slug: form_class(prefix=slug) for slug, form_class in operation_forms(charger).items()}
    if invalid:
        forms[invalid[0]] = invalid[1]
    return {
        "charger": charger,
        "unpriced": pricing.is_unpriced(charger),
        "connectors": charger.connectors.all(),
        "active_transactions": charger.transactions.filter(stopped_at__isnull=True),
        "configuration": charger.configuration.all(),
        "device_model": charger.device_model.all(),  # OCPP 2.0.1 chargers' NotifyReport; none for 1.6
        "unknown_keys": outcomes.unknown_configuration_keys(charger),
        "reservations": charger.reservations.select_related("requested_by")[:20],
        "history": charger.commands.select_related("requested_by")[:50],
        "operation_groups": _operation_groups(forms, invalid[0] if invalid else None),
        "can_operate": request.user.has_perm(access.OPERATE_CHARGERS),
        "can_change_key": request.user.has_perm(access.CHANGE_CHARGERS),
        "protocol": protocol_of(charger),
        "key_form": KEY_FORMS[protocol_of(charger)](prefix=KEY_PREFIX),
        "security_events": security.security_events_of(charger),
        "followed_requests": security.followed_requests(charger),
        **_charger_figures(request, charger),
    }


def _operation_groups(forms: dict, open_slug: str | None) -> list[dict]:
    """The page's sections of the charger's operations (`forms`, those of its protocol), none empty; the
    section holding `open_slug` is open."""
    groups = [
        {
            "key": key,
            "title": title,
            "forms": [(slug, forms[slug]) for slug in slugs if slug in forms],
            "open": open_slug in slugs,
        }
        for key, title, slugs in OPERATION_GROUPS
    ]
    return [group for group in groups if group["forms"]]


# What a session was charged, as the daily figures count it (stations.reports): 0 when free.
BILLED = F("charge__charged") + F("charge__uncollected")


def _charger_figures(request, charger: Charger) -> dict:
    """The daily table and recent sessions, for those who may view sessions; raises BadRange."""
    if not request.user.has_perm(access.SEE_SESSIONS):
        return {}
    first_day, last_day = reports.parse_range(request.GET, reports.last_30_days())
    return {
        "report": reports.daily_report(first_day, last_day, charger=charger),
        "recent_sessions": charger.transactions.select_related("charge").annotate(fee=BILLED)[:20],
    }


# Daily figures -------------------------------------------------------------

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


@access.staff_page(access.SEE_SESSIONS)
@answering_a_bad_range
def daily_report(request):
    """The site's totals per day, each charger's over the range, and one day's chargers when a day is
    chosen: a month of a large site is thousands of charger-days, which the CSV carries whole."""
    first_day, last_day = reports.parse_range(request.GET, reports.this_month())
    chosen_day = reports.parse_day_within(request.GET, first_day, last_day)
    report = reports.daily_report(first_day, last_day)
    context = {
        "report": report,
        "chosen_day": chosen_day,
        "span": (chosen_day or first_day, chosen_day or last_day),
    }
    context["charger_rows"] = report.rows_of(chosen_day) if chosen_day else report.by_charger()
    return render(request, "stations/report.html", context)


@access.staff_page(access.SEE_SESSIONS)
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
        writer.writerows(csv_lines(row, currency))
    return response


def csv_lines(row: reports.DayFigures, currency: str) -> list[list]:
    """One line per charger and day; fees in a second currency on a line of their own."""
    fees = row.fee_lines or [(quantize_money(0, currency), currency)]
    figures = [row.sessions, row.working_hours, row.charging_hours, row.energy_kwh]
    lines = [[row.day.isoformat(), row.charge_point_id, *figures, *fees[0]]]
    for amount, other_currency in fees[1:]:
        lines.append(
            [row.day.isoformat(), row.charge_point_id, 0, "0.000", "0.000", "0.000", amount, other_currency]
        )
    return lines


# Sessions ------------------------------------------------------------------

SESSIONS_PER_PAGE = 50
KILO_PER_UNIT = {"wh": Decimal("0.001"), "kwh": Decimal(1), "w": Decimal("0.001"), "kw": Decimal(1)}
CHART_MEASURANDS = (ENERGY_REGISTER, POWER_IMPORT)
SUMMED_PHASES = ("L1", "L2", "L3")
# The labels of billing.pricing's lines, as it stores them in SessionCharge.breakdown.
PRICE_LABELS = {
    "Energy": gettext_lazy("Energy"),
    "Charging time": gettext_lazy("Charging time"),
    "Session fee": gettext_lazy("Session fee"),
    "Idle fee": gettext_lazy("Idle fee"),
    "Tax": gettext_lazy("Tax"),
}


@access.staff_page(access.SEE_SESSIONS)
def session_list(request):
    charger_ids = list(Charger.objects.order_by("charge_point_id").values_list("charge_point_id", flat=True))
    filters, errors = _session_filters(request.GET, charger_ids)
    sessions = Transaction.objects.none() if errors else _filtered_sessions(filters)
    context = {
        "page": Paginator(sessions, SESSIONS_PER_PAGE).get_page(request.GET.get("page")),
        "query": request.GET,  # the form shows what was typed, also when it was wrong
        "errors": errors,
        "charger_ids": charger_ids,
        "states": Transaction.State.choices,
    }
    return render(request, "stations/session_list.html", context, status=400 if errors else 200)


def _session_filters(query, charger_ids: list[str]) -> tuple[dict, list[str]]:
    """The list's filters from the query string, and what is wrong with them in words for people."""
    filters, errors = {}, []
    for name, read in SESSION_FILTERS.items():
        try:
            filters[name] = read(query, charger_ids)
        except ValueError as wrong:  # reports.BadRange is one
            errors.append(str(wrong))
    return {name: value for name, value in filters.items() if value}, errors


def _charger_filter(query, charger_ids: list[str]) -> str:
    charge_point_id = query.get("charger", "")
    if charge_point_id and charge_point_id not in charger_ids:
        raise ValueError(_("Charger: there is no charger %(id)r.") % {"id": charge_point_id})
    return charge_point_id


def _days_filter(query, _charger_ids) -> tuple | None:
    """Local days, read as the reports read them. A blank `to` is today; a blank `from` is as far
    before `to` as a range may reach (reports.MAX_DAYS)."""
    if not (query.get("from") or query.get("to")):
        return None
    last = reports.local_today()
    if query.get("to"):
        try:
            last = reports.parse_range({"from": query["to"], "to": query["to"]}, (last, last))[0]
        except reports.BadRange:
            pass  # the call below says what is wrong with it, under its own name
    return reports.parse_range(query, (last - timedelta(days=reports.MAX_DAYS - 1), reports.local_today()))


def _who_filter(query, _charger_ids) -> str:
    who = query.get("who", "").strip()
    if any(ord(character) < 32 for character in who):  # PostgreSQL refuses NUL in a query's text
        raise ValueError(
            _("Driver or card: %(who)r has control characters; type letters and digits.") % {"who": who}
        )
    return who


def _state_filter(query, _charger_ids) -> str:
    state = query.get("state", "")
    if state and state not in Transaction.State.values:
        names = ", ".join(Transaction.State.values)
        raise ValueError(_("State: %(state)r is not one of %(names)s.") % {"state": state, "names": names})
    return state


SESSION_FILTERS = {
    "charger": _charger_filter,
    "who": _who_filter,
    "days": _days_filter,
    "state": _state_filter,
}


def _filtered_sessions(filters: dict):
    """Newest first (the id breaks ties, so that pages do not overlap), with charger, charge and people."""
    sessions = Transaction.objects.select_related("charger", "charge").with_people()
    if "charger" in filters:
        sessions = sessions.filter(charger__charge_point_id=filters["charger"])
    if "who" in filters:
        sessions = sessions.of_person_or_card(filters["who"])
    if "days" in filters:
        sessions = sessions.started_on_local_days(*filters["days"])
    if "state" in filters:
        sessions = sessions.in_state(filters["state"])
    return sessions.order_by("-started_at", "-pk")


@access.staff_page(access.SEE_SESSIONS)
def session_detail(request, transaction_id):
    sessions = Transaction.objects.select_related("charger", "charge__tariff").with_people()
    session = get_object_or_404(sessions, pk=transaction_id)
    context = {
        "session": session,
        "charge": getattr(session, "charge", None),  # none yet while charging, or when settling failed
        "price_lines": _price_lines(getattr(session, "charge", None)),
        "priced_times": _priced_times(getattr(session, "charge", None)),
        "entries": session.ledger_entries.select_related("account", "card").order_by("created_at", "id"),
        "chart": _session_chart(session),
    }
    return render(request, "stations/session_detail.html", context)


def _price_lines(charge) -> list[dict]:
    """The charge's breakdown for people: labels in their language, rates as stored (0.3249 stays)."""
    if charge is None:
        return []
    return [
        {
            **line,
            "label": _price_label(line["label"]),
            "unit_price": _rate(line["unit_price"], charge.currency),
        }
        for line in charge.breakdown
    ]


def _priced_times(charge) -> dict:
    """The charge's charging and idle time in words ("1 hour, 5 minutes"), as pricing counted them."""
    if charge is None:
        return {}
    origin = timezone.now()
    return {
        name: timesince(origin, origin + timedelta(seconds=seconds), depth=2)
        for name, seconds in (("charging", charge.charging_seconds), ("idle", charge.idle_seconds))
    }


def _price_label(label: str) -> str:
    """billing.services stores English labels, a time-of-use window's name in brackets: "Energy (Peak)"."""
    base, bracket, window = label.partition(" (")
    return f"{PRICE_LABELS.get(base, base)}{bracket}{window}"


def _rate(stored: str, currency: str) -> str:
    if not stored:
        return ""
    rate = Decimal(stored)
    shown = quantize_money(rate, currency)
    return f"{shown if shown == rate else rate.normalize():f} {currency}"


def _session_chart(session: Transaction) -> dict | None:
    """Energy delivered since the start (kWh) and power (kW) over the session, for charts.js; None
    when the charger sent no samples (the page then shows the start and stop readings only)."""
    samples = _meter_samples(session)
    if not samples:
        return None
    start_kwh = Decimal(session.meter_start) / 1000
    energy = {
        at: value - start_kwh for (at, measurand), value in samples.items() if measurand == ENERGY_REGISTER
    }
    energy.setdefault(session.started_at, Decimal(0))
    if session.stopped_at and session.meter_stop is not None:
        energy.setdefault(session.stopped_at, Decimal(session.meter_stop - session.meter_start) / 1000)
    power = {at: value for (at, measurand), value in samples.items() if measurand == POWER_IMPORT}
    times = sorted(energy.keys() | power.keys())
    series = [_chart_series(_("Energy (kWh)"), "kWh", energy, times)]
    if power:
        series.append(_chart_series(_("Power (kW)"), "kW", power, times))
    x = [moment.timestamp() for moment in times]
    return {"kind": "session", "zone": settings.TIME_ZONE, "x_title": _("Time"), "x": x, "series": series}


def _chart_series(label: str, unit: str, values: dict, times: list) -> dict:
    points = [float(values[at]) if at in values else None for at in times]  # None: no sample then
    return {"label": label, "unit": unit, "style": "line", "values": points}


def _meter_samples(session: Transaction) -> dict:
    """(time, measurand) → value in kWh or kW: the total where the charger sends one, else the sum of
    L1, L2 and L3. Samples in units other than W, kW, Wh and kWh are left out."""
    phases = defaultdict(dict)
    rows = session.meter_values.filter(measurand__in=CHART_MEASURANDS, numeric_value__isnull=False)
    for at, measurand, phase, unit, value in rows.values_list(
        "timestamp", "measurand", "phase", "unit", "numeric_value"
    ):
        if unit.lower() in KILO_PER_UNIT:
            phases[(at, measurand)][phase] = value * KILO_PER_UNIT[unit.lower()]
    totals = {key: _total_of_phases(by_phase) for key, by_phase in phases.items()}
    return {key: total for key, total in totals.items() if total is not None}


def _total_of_phases(by_phase: dict) -> Decimal | None:
    if "" in by_phase:
        return by_phase[""]
    summed = [by_phase[phase] for phase in SUMMED_PHASES if phase in by_phase]
    return sum(summed) if summed else None
