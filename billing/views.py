"""The driver's pay pages (scan, pay, watch, stop, receipt), the wallet's online top-up, the stickers and
the staff's payment list.

Driver pages work without JavaScript and without an app: every action is a
form POST answered by a redirect (POST-redirect-GET), with an idempotency key
in the form so that a double click, a reload or Back pays once.
"""

import functools
import hashlib
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import etag, require_http_methods, require_POST

from accounts.access import SEE_CHARGERS, SEE_PAYMENTS, staff_page
from billing import connector_links, payments, topups
from billing.forms import ConnectorCodeForm, DriverSignInForm, DriverSignUpForm, PaymentForm, TopUpForm
from billing.models import OnlineTopUp, Payment
from billing.money import format_money
from billing.tariff_wording import describe_tariff, rate_text
from stations.models import Charger, Connector

QR_CACHE_SECONDS = 24 * 3600  # a connector's URL changes only with PUBLIC_BASE_URL, i.e. a restart


# QR codes and stickers ------------------------------------------------------------


def _public_connector_or_404(charge_point_id: str, connector_id: int) -> Connector:
    connector = connector_links.public_connector(charge_point_id, connector_id)
    if connector is None:
        raise Http404("No such connector")
    return connector


def _qr_etag(request, charge_point_id, connector_id):
    if connector_links.public_connector(charge_point_id, connector_id) is None:
        return None  # the view answers 404
    url = connector_links.public_url(charge_point_id, connector_id)
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _qr_response(content: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = f"public, max-age={QR_CACHE_SECONDS}"
    return response


@etag(_qr_etag)
def connector_qr_svg(request, charge_point_id, connector_id):
    _public_connector_or_404(charge_point_id, connector_id)
    svg = connector_links.qr_svg(connector_links.public_url(charge_point_id, connector_id))
    return _qr_response(svg, "image/svg+xml")


@etag(_qr_etag)
def connector_qr_png(request, charge_point_id, connector_id):
    _public_connector_or_404(charge_point_id, connector_id)
    png = connector_links.qr_png(connector_links.public_url(charge_point_id, connector_id))
    return _qr_response(png, "image/png")


@staff_page(SEE_CHARGERS)
def charger_stickers(request, charge_point_id):
    charger = get_object_or_404(Charger, charge_point_id=charge_point_id)
    if not charger.is_approved:  # its pay pages do not exist: a sticker would lead nowhere
        messages.error(request, _("Accept this charger first: until then it has no pay pages to print."))
    connectors = charger.connectors.filter(connector_id__gte=1, charger__approval=Charger.Approval.ACCEPTED)
    return _stickers(request, connectors.select_related("charger"), title=str(charger))


@staff_page(SEE_CHARGERS)
def site_stickers(request):
    connectors = Connector.objects.filter(
        connector_id__gte=1, charger__approval=Charger.Approval.ACCEPTED
    ).select_related("charger")
    return _stickers(request, connectors.order_by("charger__charge_point_id", "connector_id"), title="")


def _stickers(request, connectors, *, title: str):
    stickers = [
        {
            "connector": connector,
            "code": connector_links.connector_code(connector),
            "qr_svg": connector_links.connector_path(
                connector.charger.charge_point_id, connector.connector_id, "qr.svg"
            ),
        }
        for connector in connectors
    ]
    typing_address = settings.PUBLIC_BASE_URL + "/c/"
    return render(
        request,
        "billing/pay/stickers.html",
        {"stickers": stickers, "title": title, "typing_address": typing_address},
    )


# The driver's way in: a typed code, signing in and up --------------------------------


def pay_start(request):
    """Where the sticker's address leads when the camera fails: type the connector's code."""
    form = ConnectorCodeForm(request.GET or None)
    if form.is_bound and form.is_valid():
        connector = form.connector
        return redirect(
            connector_links.connector_path(connector.charger.charge_point_id, connector.connector_id)
        )
    return render(request, "billing/pay/start.html", {"form": form}, status=400 if form.is_bound else 200)


def _next_page(request) -> str:
    """Where a driver returns after signing in or up: a page of this site, else the start page."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return "/c/"


@require_http_methods(["GET", "POST"])
def driver_sign_in(request):
    form = DriverSignInForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        return redirect(_next_page(request))
    status = 400 if request.method == "POST" else 200
    return render(
        request, "billing/pay/sign_in.html", {"form": form, "next": _next_page(request)}, status=status
    )


@require_http_methods(["GET", "POST"])
def driver_sign_up(request):
    form = DriverSignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and (driver := form.save()) is not None:
        login(request, driver, backend="accounts.backends.ThrottledModelBackend")
        return redirect(_next_page(request))
    status = 400 if request.method == "POST" else 200
    return render(
        request, "billing/pay/sign_up.html", {"form": form, "next": _next_page(request)}, status=status
    )


# The pay page ------------------------------------------------------------------------

TOKENS_KEPT = 20  # the browser's recent payments, remembered in its session (card payers have no account)


def pay_page(request, charge_point_id, connector_id):
    connector = _public_connector_or_404(charge_point_id, connector_id)
    offer = _offer(request, connector)
    form = PaymentForm(presets=offer.presets, initial={"method": _default_method(request, offer)})
    return _render_pay_page(request, offer, form)


@require_POST
def pay_connector(request, charge_point_id, connector_id):
    """Pay, then go to the session's own page (303): a reload there reloads a page, not a payment."""
    connector = _public_connector_or_404(charge_point_id, connector_id)
    offer = _offer(request, connector)
    form = PaymentForm(request.POST, presets=offer.presets)
    if not form.is_valid():
        return _render_pay_page(request, offer, form, status=400)
    try:
        payment = payments.create_payment(
            charger=connector.charger,
            connector_id=connector.connector_id,
            amount=form.cleaned_data["chosen_amount"],
            method=form.cleaned_data["method"],
            driver=request.user if request.user.is_authenticated else None,
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except payments.PaymentError as refused:
        return _refused(request, connector, form, refused)
    return _to_session(request, payment)


def _offer(request, connector: Connector):
    driver = request.user if request.user.is_authenticated else None
    return payments.connector_offer(
        charger=connector.charger, connector_id=connector.connector_id, driver=driver
    )


def _default_method(request, offer) -> str:
    return "wallet" if request.user.is_authenticated or "card" not in offer.methods else "card"


def _refused(request, connector: Connector, form, refused: payments.PaymentError):
    """The service's refusal in plain words on the page, with its status: 400, 402, 409 or 503."""
    if getattr(refused, "payment", None) is not None:  # the connector is taken by this driver's own payment
        return _to_session(request, refused.payment)
    field = getattr(refused, "field", "")
    if field == "amount":
        form.add_error(
            "other_amount" if form.cleaned_data.get("amount") == "other" else "amount", str(refused)
        )
    elif field == "method":
        form.add_error("method", str(refused))
    problem = "" if field in ("amount", "method") else str(refused)
    # The offer again: what refused the payment (a driver who took the connector meanwhile) shows now.
    offer = _offer(request, connector)
    return _render_pay_page(request, offer, form, status=refused.status, problem=problem)


def _to_session(request, payment):
    tokens = [payment.token] + [t for t in request.session.get("payments", []) if t != payment.token]
    request.session["payments"] = tokens[:TOKENS_KEPT]
    target = reverse("session_live", args=[payment.token])
    if payment.payment_url and not payment.is_final:
        target += "?pay=1"  # the live page sends the browser on to the gateway's checkout
    response = HttpResponseRedirect(target)
    response.status_code = 303  # See Other: the browser GETs the session page, never re-POSTs the payment
    return response


def _render_pay_page(request, offer, form, *, status=200, problem=""):
    tariff_words = describe_tariff(offer.tariff, offer.periods) if offer.tariff else None
    own = offer.own_payment or _browser_payment(request, offer)
    context = {
        "offer": offer,
        "connector": offer.connector,
        "state_label": payments.CONNECTOR_STATE_LABELS[offer.state],
        "tariff_words": tariff_words,
        "form": form,
        "presets": [(str(preset), format_money(preset, offer.currency)) for preset in offer.presets],
        "limits": [format_money(limit, offer.currency) for limit in (offer.min_amount, offer.max_amount)],
        "balance": None if offer.balance is None else format_money(offer.balance, offer.currency),
        "own_payment": own,
        "problem": problem,
        "top_up_online": offer.balance is not None and topups.online_top_up_offered(),
    }
    return render(request, "billing/pay/pay.html", context, status=status)


def _browser_payment(request, offer):
    """A live payment this browser made on this connector (a card payer has no account to find it by)."""
    tokens = request.session.get("payments", [])
    if not tokens:
        return None
    return (
        Payment.objects.filter(token__in=tokens, charger=offer.charger, connector_id=offer.connector_id)
        .filter(state__in=Payment.LIVE_STATES)
        .first()
    )


# The live session page and the receipt ------------------------------------------------

REFRESH_SECONDS = 5  # the page without JavaScript reloads itself this often; session.js polls as often
# The driver's word for each of the API's states (billing.payments: Payment.api_status).
DRIVER_STATES = {
    "pending": ("pending", gettext_lazy("waiting for the payment")),
    "authorized": ("starting", gettext_lazy("starting…")),
    "starting": ("starting", gettext_lazy("starting…")),
    "charging": ("charging", gettext_lazy("charging")),
    "finished": ("stopped", gettext_lazy("stopped")),
    "cancelled": ("cancelled", gettext_lazy("cancelled")),
}


def _payment_or_404(request, token: str) -> Payment:
    """The token is the key; a wallet payment also needs its own driver signed in (not another one)."""
    payment = payments.payment_by_token(token)
    if payment is None:
        raise Http404("No such session")
    if payment.driver_id and payment.driver_id != request.user.pk:
        if request.user.is_authenticated:
            raise Http404("No such session")  # another driver: as if it did not exist
        raise SignInFirst
    return payment


class SignInFirst(Exception):
    """A signed-out visitor opened a driver's session page: sign in, then come back."""


def driver_page(view):
    """Session pages of a driver who signed out (or whose phone forgot): to sign in, and back."""

    @functools.wraps(view)
    def answering(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except SignInFirst:
            return redirect(f"{reverse('driver_sign_in')}?{urlencode({'next': request.get_full_path()})}")

    return answering


@driver_page
def session_live(request, token):
    payment = _payment_or_404(request, token)
    live = _live(payment)
    checkout = payment.payment_url if payment.state == Payment.State.PENDING else ""
    context = {
        "token": token,
        "live": live,
        "checkout_url": checkout,
        "send_to_checkout": bool(checkout and request.GET.get("pay")),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(request, "billing/pay/session.html", context)


@driver_page
def session_status(request, token):
    """What session.js fills into the page, worded and formatted as the page itself shows it."""
    live = _live(_payment_or_404(request, token))
    response = JsonResponse({key: str(value) for key, value in live.items()})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@driver_page
def session_stop(request, token):
    payment = payments.request_stop(payment=_payment_or_404(request, token))
    if payment.state == Payment.State.CHARGING:  # the charger's StopTransaction ends it in a moment
        messages.info(request, _("Stopping… the charger confirms in a moment."))
    return redirect("session_live", token=token)


def _live(payment: Payment) -> dict:
    status = payments.live_status(payment=payment)
    key, label = DRIVER_STATES.get(status.api_status, ("starting", status.state_label))
    currency = status.currency
    return {
        # Final: nothing will change (a card capture still running is not): polling stops, the receipt shows.
        "state": f"{key}:final" if payment.is_final else key,
        "state_key": key,
        "state_label": label,
        "message": _live_message(key, status),
        "charger": str(payment.charger),
        "connector": payment.connector_id,
        "energy": f"{status.energy_kwh:.2f} kWh",
        "power": "—" if status.power_kw is None else f"{status.power_kw:.1f} kW",
        "elapsed": _clock(status.elapsed_seconds),
        "cost": format_money(status.cost_so_far, currency),
        "amount": format_money(status.amount, currency),
        "can_stop": status.can_stop,
        "final": payment.is_final,
        "updated": timezone.localtime().strftime("%H:%M:%S"),
    }


def _live_message(key: str, status) -> str:
    currency = status.currency
    if key == "pending":
        return _("Waiting for the card payment to be confirmed. Nothing is taken until the session ends.")
    if key == "starting":
        return _("The money is set aside. Starting the charger… plug in your car if you have not yet.")
    if key == "charging":
        return _("Charging. You can leave: it stops by itself before it costs more than you set aside.")
    if key == "stopped" and not status.finished:
        return _("Stopped. Working out the cost…")
    if key == "stopped":
        return _("Finished: you paid %(paid)s and got %(back)s back.") % {
            "paid": format_money(status.captured, currency),
            "back": format_money(status.refunded, currency),
        }
    if status.failure_reason:  # whole sentences already, saying why and what happened to the money
        return status.failure_reason
    return _("Cancelled: the charger did not start, your money was released.")


def _clock(seconds: int | None) -> str:
    """Elapsed time as a stopwatch shows it: 1:05:09."""
    seconds = max(0, int(seconds or 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@driver_page
def session_receipt(request, token):
    payment = _payment_or_404(request, token)
    receipt = payments.receipt(payment=payment)
    if receipt is None:  # not settled yet: the live page says what is happening
        return redirect("session_live", token=token)
    failure = payments.failure_text(payment) if payment.failure_reason else ""
    lines = [_receipt_line(line, receipt.currency) for line in receipt.lines]
    context = {"receipt": receipt, "payment": payment, "token": token, "failure": failure, "lines": lines}
    context["zone"] = settings.TIME_ZONE  # times are shown in the site's zone: name it, as on a printed slip
    return render(request, "billing/pay/receipt.html", context)


def _receipt_line(line: dict, currency: str) -> dict:
    """A priced line (billing.services stores them as strings) as a slip shows it: "3.000 kWh × 0.35 EUR"."""
    detail = ""
    if line.get("quantity") and line.get("unit_price"):
        quantity = Decimal(line["quantity"])
        shown = (
            f"{quantity:.0f}" if quantity == quantity.to_integral_value() else line["quantity"]
        )  # "1 session"
        detail = f"{shown} {line['unit']} × {rate_text(Decimal(line['unit_price']), currency)}"
    return {"label": line["label"], "detail": detail, "amount": Decimal(line["amount"])}


# The driver's wallet, topped up online through the card gateway (billing.topups) ---------------------

BACK_TO_LENGTH = 500  # TopUpForm.next's limit
# How each state of a top-up looks: the pay pages' state colours.
TOP_UP_STYLES = {
    "pending": "starting",
    "credited": "available",
    "failed": "cancelled",
    "expired": "cancelled",
}


@require_http_methods(["GET", "POST"])
@driver_page
def wallet_top_up(request):
    """/wallet/top-up/: the balance, amounts to add by card, the recent online top-ups. Choosing one sends
    the driver to the gateway's checkout through the top-up's own page (303 there, then on)."""
    if not request.user.is_authenticated:
        raise SignInFirst
    if not topups.online_top_up_offered():
        return render(request, "billing/pay/top_up.html", {"offered": False}, status=404)
    offer = topups.top_up_offer(driver=request.user)
    form = TopUpForm(request.POST or None, presets=offer.presets, initial={"next": _back_to(request)})
    if request.method == "POST" and form.is_valid():
        return _start_top_up(request, offer, form)
    return _render_top_up_page(request, offer, form, status=400 if form.is_bound else 200)


def _start_top_up(request, offer, form):
    try:
        top_up = topups.start_top_up(
            driver=request.user,
            amount=form.cleaned_data["chosen_amount"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            return_to=_back_to(request),
        )
    except topups.TopUpError as refused:
        if refused.field == "amount":
            wrong = "other_amount" if form.cleaned_data.get("amount") == "other" else "amount"
            form.add_error(wrong, refused.message)
        problem = "" if refused.field == "amount" else refused.message
        return _render_top_up_page(request, offer, form, status=refused.status, problem=problem)
    query = {"pay": 1, **({"next": back_to} if (back_to := _back_to(request)) else {})}
    response = redirect(f"{reverse('wallet_top_up_status', args=[top_up.token])}?{urlencode(query)}")
    response.status_code = 303  # See Other: a reload of the next page never sends the form again
    return response


def _render_top_up_page(request, offer, form, *, status=200, problem=""):
    context = {
        "offered": True,
        "form": form,
        "balance": format_money(offer.balance, offer.currency),
        "currency": offer.currency,
        "presets": [(str(preset), format_money(preset, offer.currency)) for preset in offer.presets],
        "limits": [format_money(limit, offer.currency) for limit in (offer.min_amount, offer.max_amount)],
        "recent": [_top_up_row(top_up) for top_up in topups.recent_top_ups(driver=request.user)],
        "back_to": _back_to(request),
        "problem": problem,
    }
    return render(request, "billing/pay/top_up.html", context, status=status)


def _top_up_row(top_up):
    return {"top_up": top_up, "amount": format_money(top_up.amount, top_up.currency)}


def _back_to(request) -> str:
    """The page the driver came from (the pay page), when it is one of this site's; else nothing."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    local = url_has_allowed_host_and_scheme(wanted, allowed_hosts=None) and wanted.startswith("/")
    return wanted if local and len(wanted) <= BACK_TO_LENGTH else ""


@driver_page
def wallet_top_up_status(request, token):
    """Waiting for confirmation (reloading itself, no script needed) until the gateway's webhook or the
    sweep has credited the wallet; then the new balance. Coming back from the gateway proves nothing."""
    if not request.user.is_authenticated:
        raise SignInFirst
    top_up = topups.top_up_for_driver(driver=request.user, token=token)
    if top_up is None:
        raise Http404("No such top-up")
    pending = top_up.state == OnlineTopUp.State.PENDING
    context = {
        "top_up": top_up,
        "style": TOP_UP_STYLES[top_up.state],
        "amount": format_money(top_up.amount, top_up.currency),
        "balance": format_money(top_up.account.balance, top_up.account.currency),
        "message": _top_up_message(top_up),
        "checkout_url": top_up.payment_url if pending else "",
        "send_to_checkout": bool(pending and top_up.payment_url and request.GET.get("pay")),
        "refresh_seconds": REFRESH_SECONDS if pending else None,
        "back_to": _back_to(request),
    }
    return render(request, "billing/pay/top_up_status.html", context)


def _top_up_message(top_up) -> str:
    if top_up.state == OnlineTopUp.State.PENDING:
        return _(
            "Waiting for the payment provider to confirm your payment. Your balance grows as soon as it "
            "does; this page updates by itself."
        )
    if top_up.state == OnlineTopUp.State.CREDITED:
        return _("%(amount)s was added to your wallet.") % {
            "amount": format_money(top_up.amount, top_up.currency)
        }
    return topups.failure_text(top_up)


# Staff: the payments ---------------------------------------------------------------

PAYMENTS_PER_PAGE = 50


@staff_page(SEE_PAYMENTS)
def payment_list(request):
    """Payments newest first, filtered by state and "needs a person"; the same few queries for any page."""
    state = request.GET.get("state", "")
    if state not in Payment.State.values:
        state = ""
    attention_only = request.GET.get("attention") == "1"
    rows = payments.payments_for_staff(state=state, attention_only=attention_only)
    page = Paginator(rows, PAYMENTS_PER_PAGE).get_page(request.GET.get("page"))
    for payment in page:
        payment.flag = _attention_flag(payment) if payment.needs_attention else ""
    context = {
        "page": page,
        "states": Payment.State.choices,
        "state": state,
        "attention_only": attention_only,
    }
    return render(request, "billing/pay/payment_list.html", context)


def _attention_flag(payment: Payment) -> str:
    """Why a person should look, in a line: the flow's own note, else what has waited too long."""
    if payment.attention:
        return payment.attention
    if payment.state in (Payment.State.HELD, Payment.State.STARTING):
        since = timezone.localtime(payment.confirmed_at)
        return _("money held since %(time)s, no session") % {"time": f"{since:%Y-%m-%d %H:%M}"}
    lapses = timezone.localtime(payment.authorization_expires_at)
    return _("the card authorisation lapses %(time)s") % {"time": f"{lapses:%Y-%m-%d %H:%M}"}
