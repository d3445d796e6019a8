"""Every authorization outcome, as a real charger hears it over its socket
(Authorize and StartTransaction), plus what staff see about a refusal."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v16 import call

from rfid import services
from rfid.models import AuthorizationRefusal, IdTag
from stations.models import Transaction
from tests.billing.builders import T0, charger, default_tariff, finished_session, personal_card, prepaid_card
from tests.ocpp_client import connected_charger

EXPIRY = datetime(2030, 1, 31, 23, 0, tzinfo=UTC)


def authorize_and_start(csms, id_tag, charge_point_id="CP-1"):
    """What a charger hears for `id_tag`: the Authorize answer, then the StartTransaction answer."""
    charger(charge_point_id)

    async def scenario():
        async with connected_charger(csms.ws_url, charge_point_id) as cp:
            authorized = await cp.send(call.Authorize(id_tag=id_tag))
            started = await cp.start_transaction(connector_id=1, id_tag=id_tag, meter_start=0)
            return authorized.id_tag_info, started.id_tag_info

    return asyncio.run(scenario())


def test_it_accepts_an_active_card_with_its_expiry_date(csms):
    personal_card("HOME-1", expires_at=EXPIRY, parent_id_tag="FLEET-1")

    authorized, started = authorize_and_start(csms, "home-1 ")  # readers differ in case and padding

    # (the client library hands answers over in snake_case)
    expected = {"status": "Accepted", "expiry_date": "2030-01-31T23:00:00.000Z", "parent_id_tag": "FLEET-1"}
    assert authorized == started == expected


def test_it_answers_invalid_for_an_unknown_card(csms):
    authorized, started = authorize_and_start(csms, "NOBODY")

    assert authorized == started == {"status": "Invalid"}
    assert AuthorizationRefusal.objects.filter(id_tag="NOBODY", reason="unknown idTag").count() == 2


@pytest.mark.parametrize("status", [IdTag.Status.BLOCKED, IdTag.Status.LOST])
def test_it_answers_blocked_for_a_blocked_or_lost_card(csms, status):
    personal_card("GONE-1").set_status(status)

    authorized, started = authorize_and_start(csms, "GONE-1")

    assert authorized == started == {"status": "Blocked"}
    assert Transaction.objects.get().id_tag_status == "Blocked"


def test_it_answers_expired_for_a_card_past_its_expiry_date(csms):
    yesterday = timezone.now() - timedelta(days=1)
    personal_card("OLD-1", expires_at=yesterday)

    authorized, started = authorize_and_start(csms, "OLD-1")

    assert authorized["status"] == started["status"] == "Expired"
    assert authorized["expiry_date"].endswith("Z")


def test_it_answers_expired_for_a_card_marked_expired(csms):
    personal_card("OLD-2").set_status(IdTag.Status.EXPIRED)

    authorized, started = authorize_and_start(csms, "OLD-2")

    assert authorized == started == {"status": "Expired"}


def test_it_answers_concurrent_tx_while_the_card_charges_elsewhere(csms):
    personal_card("BUSY-1")
    charger("CP-1")

    async def already_charging():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            return await cp.start_transaction(connector_id=1, id_tag="BUSY-1", meter_start=0)

    assert asyncio.run(already_charging()).id_tag_info == {"status": "Accepted"}

    authorized, started = authorize_and_start(csms, "busy-1", charge_point_id="CP-2")

    assert authorized == started == {"status": "ConcurrentTx"}


def test_it_refuses_a_prepaid_card_below_the_minimum_to_start_with_a_reason_for_staff(csms):
    default_tariff(min_balance_to_start=Decimal("5.00"))
    prepaid_card("POOR-1", balance="4.99")

    authorized, started = authorize_and_start(csms, "POOR-1")

    assert authorized == started == {"status": "Blocked"}
    refusal = AuthorizationRefusal.objects.filter(id_tag="POOR-1").first()
    assert refusal.reason == "insufficient balance: 4.99 EUR, the minimum to start is 5.00 EUR"
    assert refusal.charger.charge_point_id == "CP-1"


def test_it_says_a_card_with_nothing_left_must_be_topped_up_when_no_minimum_is_set(csms):
    default_tariff()  # no minimum to start, no overdraft
    prepaid_card("EMPTY-1", balance="0")

    authorized, _ = authorize_and_start(csms, "EMPTY-1")

    assert authorized == {"status": "Blocked"}
    refusal = AuthorizationRefusal.objects.filter(id_tag="EMPTY-1").first()
    # It said "insufficient balance: 0.00 EUR, the minimum to start is 0.00 EUR", which contradicts itself.
    assert refusal.reason == "no balance left (0.00 EUR): top up the card to charge"


def test_it_accepts_a_prepaid_card_holding_the_minimum(csms):
    default_tariff(min_balance_to_start=Decimal("5.00"))
    prepaid_card("RICH-1", balance="5.00")

    authorized, started = authorize_and_start(csms, "RICH-1")

    assert authorized == started == {"status": "Accepted"}


def test_it_refuses_a_prepaid_card_with_nothing_on_it_even_without_a_minimum(db):
    default_tariff()
    prepaid_card("EMPTY-1")

    assert services.authorize(id_tag="EMPTY-1").status == "Blocked"


def test_it_never_answers_concurrent_tx_or_low_balance_for_the_stop_of_a_session(db):
    default_tariff(min_balance_to_start=Decimal("5.00"))
    prepaid_card("STOP-1", balance="1")
    Transaction.objects.create(
        charger=charger(),
        connector_id=1,
        id_tag="STOP-1",
        meter_start=0,
        started_at=T0,
        id_tag_status="Accepted",
    )

    assert services.authorize(id_tag="STOP-1", charger=charger(), for_stop=True).status == "Accepted"
    assert services.authorize(id_tag="STOP-1", charger=charger()).status == "Blocked"


def test_it_frees_the_card_for_a_new_session_once_the_last_one_stopped(db):
    personal_card("FREE-1")
    finished_session("FREE-1")

    assert services.authorize(id_tag="FREE-1", charger=charger()).status == "Accepted"


def test_it_counts_a_session_of_the_lost_card_a_replacement_replaced(db):
    card = personal_card("LOST-1")
    Transaction.objects.create(
        charger=charger(),
        connector_id=1,
        id_tag="LOST-1",
        meter_start=0,
        started_at=T0,
        id_tag_status="Accepted",
    )
    services.replace_card(card=card, new_id_tag="NEW-1")

    assert services.authorize(id_tag="NEW-1", charger=charger("CP-2")).status == "ConcurrentTx"
