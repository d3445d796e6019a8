"""Cards, for operators and the front desk: the list and its one search box, a card's page with its
spending, and the desk's work on it (issue, top up, block, replace, print a receipt)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.access import SEE_CARDS, WORK_THE_DESK, staff_page
from billing import services as billing_services
from billing.models import LedgerEntry
from rfid import services
from rfid.forms import BlockForm, CardFilterForm, NewCardForm, ReplaceForm, TopUpForm, end_of_day
from rfid.models import IdTag, normalise_id_tag

CARDS_PER_PAGE = 50
DRIVERS_BESIDE_CARDS = 5  # drivers the card search shows too: a clerk finds either from one box
SESSIONS_SHOWN = 50  # a card's latest sessions; all of them are on the sessions page
ENTRIES_SHOWN = 100  # the wallet's latest ledger entries
REFUSALS_SHOWN = 10


def _card(id_tag: str) -> IdTag:
    return get_object_or_404(services.cards_with_state(), id_tag=normalise_id_tag(id_tag))


@staff_page(SEE_CARDS)
def card_list(request):
    form = CardFilterForm(request.GET)
    wanted = form.cleaned_data if form.is_valid() else {}
    cards = services.cards_listed(
        query=wanted.get("q", ""), state=wanted.get("state", ""), mode=wanted.get("mode", "")
    )
    query = wanted.get("q", "").strip()
    drivers = services.drivers_listed(query=query)[:DRIVERS_BESIDE_CARDS] if query else []
    page = Paginator(cards, CARDS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "rfid/card_list.html", {"form": form, "page": page, "drivers": drivers})


@staff_page(SEE_CARDS)
def card_detail(request, id_tag):
    card = _card(id_tag)
    lineage = card.lineage()
    tags = [each.id_tag for each in lineage]
    sessions = billing_services.consumption(tags)
    context = {
        "card": card,
        "lineage": lineage[1:],
        "entries": services.latest_entries(account=card.account, limit=ENTRIES_SHOWN),
        "entry_count": card.account.entries.count() if card.account_id else 0,
        "sessions": sessions[:SESSIONS_SHOWN],
        "session_count": sessions.count(),
        "refusals": services.refusals_of(id_tags=tags, limit=REFUSALS_SHOWN),
    }
    return render(request, "rfid/card_detail.html", context)


@staff_page(WORK_THE_DESK)
@require_http_methods(["GET", "POST"])
@never_cache  # Back after a top-up must not bring the filled form back with a fresh key: money twice
def card_topup(request, id_tag):
    card = _card(id_tag)
    currency = billing_services.wallet_currency(card)
    form = TopUpForm(request.POST or None, card=card, currency=currency)
    if request.method == "POST" and form.is_valid():
        try:
            entry = billing_services.top_up(
                card=card,
                amount=form.cleaned_data["amount"],
                method=form.cleaned_data["method"],
                source="desk",
                by=request.user,
                idempotency_key=form.cleaned_data["idempotency_key"],
            )
        except billing_services.RefusedMovement as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect("topup_receipt", entry_id=entry.pk)
    return render(request, "rfid/topup.html", {"card": card, "form": form, "currency": currency})


@staff_page(WORK_THE_DESK)
def topup_receipt(request, entry_id):
    entry = get_object_or_404(
        LedgerEntry.objects.select_related("account", "card__owner", "created_by"),
        pk=entry_id,
        kind=LedgerEntry.Kind.TOP_UP,
    )
    return render(request, "rfid/receipt.html", {"entry": entry})


@staff_page(WORK_THE_DESK)
@require_http_methods(["GET", "POST"])
def card_block(request, id_tag):
    card = _card(id_tag)
    form = BlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        card.set_status(form.cleaned_data["status"], form.cleaned_data["reason"])
        messages.success(
            request,
            _("Card %(id_tag)s is now %(status)s.")
            % {"id_tag": card.id_tag, "status": services.CardState(card.status).label},
        )
        return redirect("card_detail", id_tag=card.id_tag)
    return render(request, "rfid/block.html", {"card": card, "form": form})


@staff_page(WORK_THE_DESK)
@require_http_methods(["GET", "POST"])
def card_replace(request, id_tag):
    card = _card(id_tag)
    form = ReplaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.replace_card(
                card=card, new_id_tag=form.cleaned_data["new_id_tag"], reason=form.cleaned_data["reason"]
            )
        except services.CardError as problem:
            form.add_error(None, str(problem))
        else:
            messages.success(
                request,
                _("Card %(new)s replaces %(old)s, with its balance and history.")
                % {"new": new.id_tag, "old": card.id_tag},
            )
            return redirect("card_detail", id_tag=new.id_tag)
    return render(request, "rfid/replace.html", {"card": card, "form": form})


@staff_page(WORK_THE_DESK)
@require_http_methods(["GET", "POST"])
def card_new(request):
    form = NewCardForm(request.POST or None, initial={"owner": request.GET.get("owner")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        card = services.issue_card(
            id_tag=data["id_tag"],
            mode=data["mode"],
            owner=data["owner"],
            expires_at=end_of_day(data["expires_on"]) if data["expires_on"] else None,
        )
        messages.success(request, _("Card %(id_tag)s issued.") % {"id_tag": card.id_tag})
        return redirect("card_detail", id_tag=card.id_tag)
    return render(request, "rfid/card_new.html", {"form": form})


def moved(request, to: str, **kwargs):
    """An old /desk/ address. A visit goes to the new one with its query string (302); a form posted
    to it, from a page open since before the move, is sent on with its method and body (307)."""
    query = request.META.get("QUERY_STRING", "")
    url = reverse(to, kwargs=kwargs) + (f"?{query}" if query else "")
    return redirect(url, preserve_request=request.method not in ("GET", "HEAD"))
