"""/api/v1/cards/: find, read, issue, block, replace and top up cards through the REST API, by role;
the idempotent top-up (a retry credits once and answers as the first did, also when the twins race)."""

import uuid
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from rfid import services
from rfid.models import IdTag
from tests import personas
from tests.billing.builders import balance, personal_card, prepaid_card
from tests.billing.test_races import run_together


def api(user=None) -> APIClient:
    client = APIClient()
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def top_up(user, id_tag="PREPAID1", body=None, key=None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    body = body or {"amount": "20.00", "method": "cash"}
    return api(user).post(f"/api/v1/cards/{id_tag}/topups/", body, format="json", headers=headers)


# Reading --------------------------------------------------------------------------------


def test_it_finds_cards_by_owner_name_phone_or_idtag_for_the_front_desk(clerk):
    dana = personas.driver()
    prepaid_card("04A2B3C4", balance="12.5", owner=dana)
    prepaid_card("ANON-1")

    for query in ("04a2", "dana", "0170-555 0101"):
        answer = api(clerk).get("/api/v1/cards/", {"q": query})
        assert answer.status_code == 200
        assert [card["id_tag"] for card in answer.json()["results"]] == ["04A2B3C4"], query
    card = api(clerk).get("/api/v1/cards/", {"q": "04A2"}).json()["results"][0]
    assert card["owner"] == {"id": dana.pk, "username": "dana", "name": "Dana Driver"}
    assert (card["status"], card["mode"], card["balance"], card["currency"]) == (
        "active",
        "prepaid",
        "12.50",
        "EUR",
    )


def test_it_narrows_cards_by_status_mode_and_owner(operator):
    dana = personas.driver()
    prepaid_card("DANA-1", owner=dana)
    personal_card("DANA-2", owner=dana)
    prepaid_card("ANON-1").set_status(IdTag.Status.BLOCKED, "stolen")

    def listed(**filters):
        answer = api(operator).get("/api/v1/cards/", filters)
        assert answer.status_code == 200, answer.json()
        return [card["id_tag"] for card in answer.json()["results"]]

    assert listed() == ["ANON-1", "DANA-1", "DANA-2"]
    assert listed(status="blocked") == ["ANON-1"]
    assert listed(mode="personal") == ["DANA-2"]
    assert listed(owner=dana.pk) == ["DANA-1", "DANA-2"]
    assert listed(owner=dana.pk, mode="prepaid", status="active") == ["DANA-1"]


def test_it_names_a_wrong_filter(operator):
    answer = api(operator).get("/api/v1/cards/", {"status": "melted", "owner": "dana"})

    assert answer.status_code == 400
    assert set(answer.json()) == {"status", "owner"}


def test_it_shows_a_card_with_the_one_that_replaced_it(clerk):
    old = prepaid_card("OLD-1", balance="30", owner=personas.driver())
    services.replace_card(card=old, new_id_tag="NEW-1", reason="lost on the bus")

    old_card = api(clerk).get("/api/v1/cards/old-1/").json()
    new_card = api(clerk).get("/api/v1/cards/NEW-1/").json()

    assert (old_card["status"], old_card["replaced_by"], old_card["replaces"]) == ("replaced", "NEW-1", None)
    assert (new_card["status"], new_card["replaces"], new_card["balance"]) == ("active", "OLD-1", "30.00")
    assert api(clerk).get("/api/v1/cards/NOBODY/").status_code == 404


# Issuing, blocking, replacing: admins -------------------------------------------------------


def test_it_lets_an_admin_issue_a_card_to_a_driver(admin):
    dana = personas.driver()

    answer = api(admin).post(
        "/api/v1/cards/", {"id_tag": " card-a ", "mode": "prepaid", "owner": dana.pk}, format="json"
    )

    assert answer.status_code == 201, answer.json()
    assert (answer.json()["id_tag"], answer.json()["owner"]["id"], answer.json()["balance"]) == (
        "CARD-A",
        dana.pk,
        "0.00",
    )
    card = IdTag.objects.get(id_tag="CARD-A")
    assert (card.owner, card.mode, card.account.owner) == (dana, "prepaid", dana)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"id_tag": "X" * 21, "mode": "prepaid"}, "id_tag"),
        ({"id_tag": "TAKEN", "mode": "prepaid"}, "id_tag"),
        ({"id_tag": "PAY-1234", "mode": "prepaid"}, "id_tag"),
        ({"id_tag": "NEW", "mode": "gold"}, "mode"),
        ({"id_tag": "NEW", "mode": "prepaid", "expires_on": "2000-01-01"}, "expires_on"),
    ],
)
def test_it_refuses_a_card_the_desk_would_refuse_naming_the_field(admin, body, field):
    prepaid_card("TAKEN")

    answer = api(admin).post("/api/v1/cards/", body, format="json")

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert IdTag.objects.count() == 1


def test_it_never_makes_a_staff_account_a_cards_owner(admin, operator):
    answer = api(admin).post(
        "/api/v1/cards/", {"id_tag": "NEW", "mode": "prepaid", "owner": operator.pk}, format="json"
    )

    assert answer.status_code == 400 and list(answer.json()) == ["owner"]


def test_it_lets_an_admin_block_a_card_which_chargers_then_refuse(admin):
    prepaid_card("BLOCK-1", balance="10")

    answer = api(admin).post(
        "/api/v1/cards/BLOCK-1/block/", {"status": "lost", "reason": "stolen"}, format="json"
    )

    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["status_reason"]) == ("lost", "stolen")
    assert services.authorize(id_tag="BLOCK-1").status == "Blocked"


def test_it_lets_an_admin_replace_a_card_once_keeping_the_balance(admin):
    prepaid_card("OLD-1", balance="30", owner=personas.driver())

    first = api(admin).post("/api/v1/cards/OLD-1/replace/", {"new_id_tag": "NEW-1"}, format="json")
    again = api(admin).post("/api/v1/cards/OLD-1/replace/", {"new_id_tag": "NEW-2"}, format="json")

    assert first.status_code == 201
    assert (first.json()["id_tag"], first.json()["replaces"], first.json()["balance"]) == (
        "NEW-1",
        "OLD-1",
        "30.00",
    )
    assert again.status_code == 409 and "NEW-1" in again.json()["detail"]
    assert IdTag.objects.get(id_tag="OLD-1").status == "lost"
    assert not IdTag.objects.filter(id_tag="NEW-2").exists()


# Who may do what ------------------------------------------------------------------------------

CHANGES = [
    ("/api/v1/cards/", {"id_tag": "NEW", "mode": "prepaid"}),
    ("/api/v1/cards/CARD-1/block/", {"status": "blocked"}),
    ("/api/v1/cards/CARD-1/replace/", {"new_id_tag": "NEW"}),
]


@pytest.mark.parametrize("persona", ["clerk", "operator"])
def test_it_refuses_card_changes_to_the_front_desk_and_operators(db, persona):
    prepaid_card("CARD-1")
    user = getattr(personas, persona)()

    for url, body in CHANGES:
        assert api(user).post(url, body, format="json").status_code == 403, url
    assert api(user).get("/api/v1/cards/CARD-1/").status_code == 200
    assert list(IdTag.objects.values_list("id_tag", "status")) == [("CARD-1", "active")]


def test_it_refuses_an_operator_a_top_up(operator):
    card = prepaid_card("PREPAID1")

    assert top_up(operator).status_code == 403
    assert balance(card) == 0


def test_it_refuses_an_outsider_everything_and_asks_who_is_signed_out(outsider, driver):
    card = prepaid_card("CARD-1")
    reads = ["/api/v1/cards/", "/api/v1/cards/CARD-1/"]

    for user, refusal in ((outsider, 403), (driver, 403), (None, 401)):
        for url in reads:
            assert api(user).get(url).status_code == refusal, (user, url)
        for url, body in CHANGES:
            assert api(user).post(url, body, format="json").status_code == refusal, (user, url)
        assert top_up(user, "CARD-1").status_code == refusal
    assert api().get("/api/v1/cards/")["WWW-Authenticate"] == "Token"
    assert balance(card) == 0 and IdTag.objects.count() == 1


# Top-ups ---------------------------------------------------------------------------------------


def test_it_tops_up_a_prepaid_card_for_the_front_desk(clerk):
    card = prepaid_card("PREPAID1", balance="5")

    answer = top_up(clerk, "prepaid1", {"amount": "20.00", "method": "card"})

    assert answer.status_code == 201
    body = answer.json()
    assert (body["card"], body["amount"], body["currency"], body["method"], body["balance_after"]) == (
        "PREPAID1",
        "20.00",
        "EUR",
        "card",
        "25.00",
    )
    entry = LedgerEntry.objects.get(pk=body["id"])
    assert (entry.created_by, entry.source, entry.kind) == (clerk, "api", "top_up")
    assert balance(card) == Decimal("25")


def test_it_answers_a_retried_top_up_as_the_first_and_credits_once(clerk):
    card = prepaid_card("PREPAID1")
    key = str(uuid.uuid4())

    first = top_up(clerk, key=key)
    retry = top_up(clerk, key=key)
    card.set_status(IdTag.Status.BLOCKED, "lost at the till")  # the answer stays the first one's
    late_retry = top_up(clerk, key=key)

    assert first.status_code == retry.status_code == late_retry.status_code == 201
    assert first.json() == retry.json() == late_retry.json()
    assert LedgerEntry.objects.filter(kind="top_up").count() == 1
    assert balance(card) == Decimal("20")


@pytest.mark.parametrize(
    "second", [{"amount": "25.00", "method": "cash"}, {"amount": "20.00", "method": "card"}, "OTHER1"]
)
def test_it_refuses_a_key_sent_again_with_another_top_up(clerk, second):
    card, other = prepaid_card("PREPAID1"), prepaid_card("OTHER1")
    top_up(clerk, key="till-7/42")

    if second == "OTHER1":
        answer = top_up(clerk, "OTHER1", key="till-7/42")
    else:
        answer = top_up(clerk, body=second, key="till-7/42")

    assert answer.status_code == 422
    assert "Idempotency-Key" in answer.json()["detail"] and "nothing was credited" in answer.json()["detail"]
    assert (balance(card), balance(other)) == (Decimal("20"), Decimal("0"))


def test_it_keeps_each_users_keys_apart(clerk, admin):
    card = prepaid_card("PREPAID1")

    assert top_up(clerk, key="1").status_code == top_up(admin, key="1").status_code == 201

    assert LedgerEntry.objects.filter(kind="top_up").count() == 2
    assert balance(card) == Decimal("40")


def test_it_credits_once_when_two_identical_requests_race(transactional_db):
    card = prepaid_card("PREPAID1")
    claire = personas.clerk()

    answers = run_together(*[lambda: top_up(claire, key="race-1")] * 2)

    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert LedgerEntry.objects.filter(kind="top_up").count() == 1
    assert balance(card) == Decimal("20")


@pytest.mark.parametrize("amount", ["0", "-3", "10.005", "5000.01", "ten", "NaN"])
def test_it_refuses_a_bad_amount_naming_it(clerk, amount):
    card = prepaid_card("PREPAID1")

    answer = top_up(clerk, body={"amount": amount, "method": "cash"})

    assert answer.status_code == 400 and list(answer.json()) == ["amount"]
    assert balance(card) == 0


def test_it_refuses_a_top_up_of_a_blocked_or_personal_card(clerk):
    prepaid_card("PREPAID1").set_status(IdTag.Status.BLOCKED, "stolen")
    personal_card("HOME1")

    blocked, personal = top_up(clerk, "PREPAID1"), top_up(clerk, "HOME1")

    assert (blocked.status_code, personal.status_code) == (409, 409)
    assert "blocked" in blocked.json()["detail"] and "personal" in personal.json()["detail"]
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("key", ["", "k" * 256, "clé"])
def test_it_refuses_an_unusable_idempotency_key(clerk, key):
    card = prepaid_card("PREPAID1")

    answer = top_up(clerk, key=key)

    assert answer.status_code == 400 and list(answer.json()) == ["Idempotency-Key"]
    assert balance(card) == 0
