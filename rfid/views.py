"""The front desk: find a card, top it up, issue, block and replace cards, print receipts."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from billing import services as billing_services
from billing.models import LedgerEntry
from rfid import services
from rfid.desk import front_desk_required
from rfid.forms import BlockForm, NewCardForm, ReplaceForm, SearchForm, TopUpForm, end_of_day
from rfid.models import IdTag, normalise_id_tag


def _card(id_tag: str) -> IdTag:
    return get_object_or_404(
        IdTag.objects.select_related("owner", "account"), id_tag=normalise_id_tag(id_tag)
    )


@front_desk_required
def search(request):
    form = SearchForm(request.GET or None)
    cards = services.find_cards(form.cleaned_data["q"]) if form.is_valid() else []
    return render(request, "rfid/search.html", {"form": form, "cards": cards})


@front_desk_required
def card_detail(request, id_tag):
    card = _card(id_tag)
    tags = [c.id_tag for c in card.lineage()]
    return render(
        request,
        "rfid/card_detail.html",
        {
            "card": card,
            "entries": billing_services.statement(card.account),
            "sessions": billing_services.consumption(tags),
            "refusals": card.refusals.all()[:10],
        },
    )


@front_desk_required
@require_http_methods(["GET", "POST"])
@never_cache  # Back after a top-up must not bring the filled form back with a fresh key: money twice
def card_topup(request, id_tag):
    card = _card(id_tag)
    currency = card.account.currency if card.account_id else billing_services.site_currency()
    form = TopUpForm(request.POST or None, currency=currency)
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
            return redirect("desk:receipt", entry_id=entry.pk)
    return render(request, "rfid/topup.html", {"card": card, "form": form, "currency": currency})


@front_desk_required
def topup_receipt(request, entry_id):
    entry = get_object_or_404(
        LedgerEntry.objects.select_related("account", "card__owner", "created_by"),
        pk=entry_id,
        kind=LedgerEntry.Kind.TOP_UP,
    )
    return render(request, "rfid/receipt.html", {"entry": entry})


@front_desk_required
@require_http_methods(["GET", "POST"])
def card_block(request, id_tag):
    card = _card(id_tag)
    form = BlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        card.set_status(form.cleaned_data["status"], form.cleaned_data["reason"])
        messages.success(request, f"Card {card.id_tag} is now {card.status}.")
        return redirect("desk:card", id_tag=card.id_tag)
    return render(request, "rfid/block.html", {"card": card, "form": form})


@front_desk_required
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
                request, f"Card {new.id_tag} replaces {card.id_tag}, with its balance and history."
            )
            return redirect("desk:card", id_tag=new.id_tag)
    return render(request, "rfid/replace.html", {"card": card, "form": form})


@front_desk_required
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
        messages.success(request, f"Card {card.id_tag} issued.")
        return redirect("desk:card", id_tag=card.id_tag)
    return render(request, "rfid/card_new.html", {"form": form})
