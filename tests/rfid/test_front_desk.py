"""The front desk through the browser (Django test client): a clerk, an operator, an outsider."""

import re
from decimal import Decimal

import pytest
from django.forms import BooleanField
from django.test import Client

from billing import services
from billing.models import LedgerEntry, Tariff
from rfid.models import IdTag
from tests import personas
from tests.billing.builders import (
    balance,
    clerk,
    default_tariff,
    driver,
    finished_session,
    operator,
    outsider,
    prepaid_card,
)


def signed_in(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def hidden_key(page) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', page.content.decode()).group(1)


def test_it_lets_a_clerk_find_a_card_by_idtag_owner_name_or_phone(db):
    prepaid_card("04A2B3C4", owner=driver(name="Dana Driver", phone="+49 170 5550101"))
    desk = signed_in(clerk())

    for query in ("04a2", "dana", "5550101"):
        assert "04A2B3C4" in desk.get("/cards/", {"q": query}).content.decode()
    assert "04A2B3C4" not in desk.get("/cards/", {"q": "nobody"}).content.decode()


def test_it_lets_a_clerk_top_up_once_and_print_a_receipt(db):
    card = prepaid_card("TOPUP-1")
    claire = clerk("claire")
    desk = signed_in(claire)
    form = desk.get("/cards/topup-1/topup/")
    submission = {"amount": "25.50", "method": "card", "idempotency_key": hidden_key(form)}

    first = desk.post("/cards/TOPUP-1/topup/", submission)
    double_click = desk.post("/cards/TOPUP-1/topup/", submission)

    assert first.status_code == double_click.status_code == 302
    assert first["Location"] == double_click["Location"]
    assert balance(card) == Decimal("25.50")
    entry = LedgerEntry.objects.get(kind="top_up")
    assert (entry.created_by, entry.source, entry.payment_method) == (claire, "desk", "card")
    receipt = desk.get(first["Location"]).content.decode()
    assert "25.50 EUR" in receipt and "TOPUP-1" in receipt
    # A print button, handled by print.js (the Content-Security-Policy forbids inline handlers).
    assert "data-print>Print</button>" in receipt and "js/print.js" in receipt


def test_it_keeps_the_top_up_form_out_of_the_browsers_back_button(db):
    prepaid_card("TOPUP-3")
    form = signed_in(clerk()).get("/cards/TOPUP-3/topup/")

    # Back after a top-up brought the filled form back, with a fresh key: a second credit.
    assert "no-store" in form["Cache-Control"]
    assert 'autocomplete="off"' in form.content.decode()


@pytest.mark.parametrize("amount", ["0", "-3", "10.005", "5000.01", "ten"])
def test_it_refuses_bad_top_up_amounts(db, amount):
    card = prepaid_card("TOPUP-2")
    desk = signed_in(clerk())

    page = desk.post("/cards/TOPUP-2/topup/", {"amount": amount, "method": "cash", "idempotency_key": "k"})

    assert page.status_code == 200 and "errorlist" in page.content.decode()
    assert balance(card) == 0


def test_it_requires_the_csrf_token_on_a_top_up(db):
    card = prepaid_card("TOPUP-3")
    desk = signed_in(clerk(), enforce_csrf_checks=True)

    page = desk.post("/cards/TOPUP-3/topup/", {"amount": "10", "method": "cash", "idempotency_key": "k"})

    assert page.status_code == 403
    assert balance(card) == 0


def test_it_lets_a_clerk_issue_block_and_replace_cards_keeping_the_balance(db):
    desk, dana = signed_in(clerk()), driver()

    desk.post("/cards/new/", {"id_tag": "card-a", "mode": "prepaid", "owner": dana.pk})
    card = IdTag.objects.get(id_tag="CARD-A")
    desk.post("/cards/CARD-A/topup/", {"amount": "30", "method": "cash", "idempotency_key": "k1"})
    replaced = desk.post("/cards/CARD-A/replace/", {"new_id_tag": "CARD-B", "reason": "lost on the bus"})
    desk.post("/cards/CARD-B/block/", {"status": "blocked", "reason": "stolen"})

    assert replaced["Location"] == "/cards/CARD-B/"
    card.refresh_from_db()
    new = IdTag.objects.get(id_tag="CARD-B")
    assert (card.status, new.status, new.owner, new.replaces) == ("lost", "blocked", dana, card)
    assert balance(new) == Decimal("30")
    page = desk.get("/cards/CARD-B/").content.decode()
    assert "30.00 EUR" in page and "CARD-A" in page


def test_it_refuses_an_idtag_over_20_characters_at_the_desk(db):
    desk = signed_in(clerk())

    page = desk.post("/cards/new/", {"id_tag": "X" * 21, "mode": "prepaid"})

    assert "at most 20 characters" in page.content.decode()
    assert not IdTag.objects.exists()


def test_it_shows_the_spending_record_with_a_running_balance(db):
    default_tariff(price_per_kwh=Decimal("0.5000"))
    dana = driver()
    card = prepaid_card("REC-1", balance="20", owner=dana)
    services.settle_transaction(transaction=finished_session("REC-1", wh=4_000))
    services.top_up(card=card, amount=Decimal("5"), method="cash", source="cli")
    desk = signed_in(clerk())

    for url in ("/cards/REC-1/", f"/drivers/{dana.pk}/"):
        page = desk.get(url).content.decode()
        running = re.findall(r'<td class="num running"[^>]*>([^<]+)</td>', page)
        assert running == ["20.00 EUR", "18.00 EUR", "23.00 EUR"], url
        assert "-2.00 EUR" in page and "4.000 kWh" in page


def test_it_refuses_the_clerk_the_operator_pages(db):
    tariff = default_tariff()
    desk = signed_in(clerk())

    assert desk.get("/admin/billing/tariff/").status_code == 302  # not staff: sent to the admin sign-in
    desk.post(f"/admin/billing/tariff/{tariff.pk}/change/", {"name": "Free", "price_per_kwh": "0"})
    assert desk.get("/admin/stations/charger/").status_code == 302
    assert Tariff.objects.get().price_per_kwh == Decimal("0.3000")


def test_it_refuses_a_clerk_who_is_also_staff_the_tariff_and_charger_admin(db):
    tariff, claire = default_tariff(), clerk()
    claire.is_staff = True
    claire.save()
    desk = signed_in(claire)

    assert desk.get(f"/admin/billing/tariff/{tariff.pk}/change/").status_code == 403
    assert desk.post(f"/admin/billing/tariff/{tariff.pk}/change/", {"name": "Free"}).status_code == 403
    assert desk.get("/admin/stations/charger/").status_code == 403
    assert not claire.has_perm("billing.change_tariff") and not claire.has_perm("stations.change_charger")


def admin_form_data(page, **typed) -> dict:
    """What an admin change form posts as it stands (its inlines too), with `typed` typed in."""
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for field in (field for form in forms for field in form):
        value = field.value()
        if isinstance(field.field, BooleanField):
            value = "on" if value else None  # an unticked box is not posted at all
        if value is not None:
            data[field.html_name] = value
    return {**data, **typed}


def test_it_lets_the_site_admin_change_tariffs_and_use_the_desk(db):
    tariff, ada = default_tariff(), personas.admin()
    prepaid_card("ADA-DESK-1")
    admin = signed_in(ada)
    change = f"/admin/billing/tariff/{tariff.pk}/change/"

    saved = admin.post(
        change, admin_form_data(admin.get(change), price_per_kwh="0.4500", tax_percent="19.00")
    )

    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    tariff.refresh_from_db()
    assert (tariff.name, tariff.price_per_kwh, tariff.tax_percent) == (
        "Standard",
        Decimal("0.4500"),
        Decimal("19"),
    )
    assert "ADA-DESK-1" in admin.get("/cards/", {"q": "ada-desk"}).content.decode()


def test_it_refuses_an_operator_the_tariffs(db):
    tariff = default_tariff()
    change = f"/admin/billing/tariff/{tariff.pk}/change/"
    valid_change = admin_form_data(signed_in(personas.admin()).get(change), price_per_kwh="0")
    olga = signed_in(operator())

    read_only = olga.get(change)  # operators read tariffs: the page, without a save button
    assert read_only.status_code == 200 and not read_only.context["has_change_permission"]
    assert olga.post(change, valid_change).status_code == 403
    assert Tariff.objects.get().price_per_kwh == Decimal("0.3000")


def test_it_refuses_someone_from_outside(db):
    prepaid_card("SECRET-1", balance="10")
    mallory = signed_in(outsider())

    assert mallory.get("/cards/", {"q": "SECRET"}).status_code == 403
    assert (
        mallory.post(
            "/cards/SECRET-1/topup/", {"amount": "100", "method": "cash", "idempotency_key": "m"}
        ).status_code
        == 403
    )
    assert Client().get("/cards/SECRET-1/")["Location"].startswith("/login/")
    assert LedgerEntry.objects.count() == 1


def test_it_keeps_ledger_entries_read_only_in_the_admin(db):
    prepaid_card("ADMIN-1", balance="10")
    admin = signed_in(personas.admin())
    entry = LedgerEntry.objects.get()

    listing = admin.get("/admin/billing/ledgerentry/")
    assert listing.status_code == 200 and "ADMIN-1" in listing.content.decode()
    assert list(listing.context["cl"].result_list) == [entry]
    assert admin.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert admin.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.get().amount == Decimal("10")


def test_it_renders_every_desk_form_for_a_clerk(db):
    dana = driver()
    prepaid_card("FORM-1", owner=dana)
    desk = signed_in(clerk())
    headings = {  # each page, with the heading saying what it is about
        "/cards/": "Cards",
        "/drivers/": "Drivers",
        "/cards/new/": "Issue a card",
        "/cards/FORM-1/": "Card FORM-1",
        "/cards/FORM-1/topup/": "Top up card FORM-1",
        "/cards/FORM-1/block/": "Block card FORM-1",
        "/cards/FORM-1/replace/": "Replace card FORM-1",
        "/drivers/new/": "Register a driver",
        f"/drivers/{dana.pk}/": "Dana Driver",
    }

    for url, heading in headings.items():
        page = desk.get(url)
        assert page.status_code == 200, url
        assert re.search(rf"<h1[^>]*>\s*{re.escape(heading)}\s*</h1>", page.content.decode()), url
        assert "csrfmiddlewaretoken" in page.content.decode() or url in (
            "/cards/",
            "/drivers/",
            "/cards/FORM-1/",
            f"/drivers/{dana.pk}/",
        ), url
    sign_in = Client().get("/login/")
    assert sign_in.status_code == 200 and 'name="password"' in sign_in.content.decode()
