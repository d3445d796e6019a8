"""/api/v1/ledger/: every wallet's entries for operators and admins, filtered by account, driver, card,
kind and the site's local days; the front desk reads a card's entries on its pages, never the ledger."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing import services
from billing.models import LedgerEntry
from tests import personas
from tests.billing.builders import default_tariff, finished_session, prepaid_card


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def ledger(user, **filters) -> list[dict]:
    answer = api(user).get("/api/v1/ledger/", filters)
    assert answer.status_code == 200, answer.json()
    return answer.json()["results"]


def top_up_at(moment: datetime, card, amount: str, **details) -> LedgerEntry:
    with time_machine.travel(moment, tick=False):
        return services.top_up(card=card, amount=Decimal(amount), method="cash", source="desk", **details)


@pytest.fixture
def two_wallets(db):
    """Dana's wallet (two cards; a top-up, then a session charge), and an anonymous card's."""
    default_tariff(price_per_kwh=Decimal("1.0000"))
    dana = personas.driver()
    car, van = prepaid_card("DANA-CAR", owner=dana), prepaid_card("DANA-VAN", owner=dana)
    anonymous = prepaid_card("ANON-1")
    top_up_at(datetime(2027, 2, 28, 9, 0, tzinfo=UTC), van, "50", by=personas.clerk())
    with time_machine.travel(datetime(2027, 3, 1, 10, 0, tzinfo=UTC), tick=False):
        services.settle_transaction(transaction=finished_session("DANA-CAR", wh=2_000))  # 2.00 EUR
    top_up_at(datetime(2027, 3, 1, 23, 30, tzinfo=UTC), anonymous, "10")  # 2 March in Shanghai
    return dana, car, van, anonymous


def test_it_lists_every_wallets_entries_oldest_first(operator, two_wallets):
    dana, car, van, anonymous = two_wallets

    entries = ledger(operator)

    assert [(e["kind"], e["amount"], e["balance_after"], e["card"]) for e in entries] == [
        ("top_up", "50.00", "50.00", "DANA-VAN"),
        ("session_charge", "-2.00", "48.00", "DANA-CAR"),
        ("top_up", "10.00", "10.00", "ANON-1"),
    ]
    first, charge = entries[0], entries[1]
    assert (first["driver"], first["created_by"], first["source"], first["payment_method"]) == (
        dana.pk,
        "claire",
        "desk",
        "cash",
    )
    assert (charge["transaction"], charge["created_by"], charge["source"], charge["currency"]) == (
        LedgerEntry.objects.get(kind="session_charge").transaction_id,
        None,
        "ocpp:CP-1",
        "EUR",
    )
    assert entries[2]["driver"] is None


def test_it_narrows_the_ledger_by_wallet_driver_card_and_kind(admin, two_wallets):
    dana, car, van, anonymous = two_wallets

    def kinds(**filters):
        return [(entry["kind"], entry["card"]) for entry in ledger(admin, **filters)]

    assert kinds(driver=dana.pk) == [("top_up", "DANA-VAN"), ("session_charge", "DANA-CAR")]
    assert kinds(account=anonymous.account_id) == [("top_up", "ANON-1")]
    assert kinds(card="dana-car") == [("session_charge", "DANA-CAR")]
    assert kinds(kind="top_up") == [("top_up", "DANA-VAN"), ("top_up", "ANON-1")]
    assert kinds(driver=dana.pk, kind="top_up") == [("top_up", "DANA-VAN")]
    assert kinds(driver=999_999) == []


def test_it_reads_from_and_to_as_the_sites_local_days(admin, two_wallets, settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: 23:30 UTC on 1 March is 07:30 on 2 March

    def days(**filters):
        return [entry["amount"] for entry in ledger(admin, **filters)]

    assert days(**{"from": "2027-03-01", "to": "2027-03-01"}) == ["-2.00"]
    assert days(**{"from": "2027-03-02"}) == ["10.00"]
    assert days(to="2027-02-28") == ["50.00"]


@pytest.mark.parametrize(
    "filters, field",
    [
        ({"kind": "gift"}, "kind"),
        ({"from": "1 March"}, "from"),
        ({"from": "2027-03-02", "to": "2027-03-01"}, "to"),
        ({"to": "9999-12-31"}, "to"),
        ({"driver": "dana"}, "driver"),
        ({"account": "0"}, "account"),
    ],
)
def test_it_names_a_wrong_filter(operator, filters, field):
    answer = api(operator).get("/api/v1/ledger/", filters)

    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_it_pages_the_ledger(operator, two_wallets):
    first = api(operator).get("/api/v1/ledger/", {"page_size": 2}).json()
    second = api(operator).get(first["next"]).json()

    assert first["count"] == 3
    assert [e["amount"] for e in first["results"] + second["results"]] == ["50.00", "-2.00", "10.00"]


@pytest.mark.parametrize("persona, answer", [("clerk", 403), ("outsider", 403), ("driver", 403)])
def test_it_keeps_the_ledger_from_the_front_desk_and_outsiders(request, persona, answer):
    user = request.getfixturevalue(persona)

    assert api(user).get("/api/v1/ledger/").status_code == answer


def test_it_asks_who_is_signed_out_to_sign_in(db):
    answer = api().get("/api/v1/ledger/")

    assert answer.status_code == 401 and answer["WWW-Authenticate"] == "Token"


def test_it_offers_no_way_to_write_the_ledger(admin):
    assert api(admin).post("/api/v1/ledger/", {"amount": "100"}, format="json").status_code == 405
