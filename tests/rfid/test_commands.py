"""The operator's scripts: add_idtag, topup, show_card."""

from datetime import datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from billing.models import LedgerEntry
from rfid.models import IdTag
from tests.billing.builders import balance, driver, prepaid_card


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_registers_a_personal_card_by_default_as_before(db):
    assert run("add_idtag", "04a2b3") == "Registered idTag 04A2B3 (personal, active)\n"
    assert IdTag.objects.get().mode == "personal"


def test_it_registers_a_prepaid_card_with_owner_expiry_and_status(db, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    dana = driver()

    run(
        "add_idtag",
        "DANA-2",
        "--mode",
        "prepaid",
        "--owner",
        "dana",
        "--expires",
        "2030-06-30",
        "--status",
        "blocked",
    )

    card = IdTag.objects.get()
    assert (card.mode, card.owner, card.status, card.account.owner) == ("prepaid", dana, "blocked", dana)
    assert card.expires_at == datetime(2030, 7, 1, tzinfo=ZoneInfo("Europe/Berlin"))  # valid through June 30


def test_it_keeps_an_existing_cards_mode_when_re_run_without_one(db):
    prepaid_card("KEEP-1")

    run("add_idtag", "KEEP-1")

    assert IdTag.objects.get().mode == "prepaid"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--expires", "31/12/2030"], "not a date"),
        (["--owner", "nobody"], "No user 'nobody'"),
    ],
)
def test_it_explains_bad_add_idtag_options(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("add_idtag", "BAD-1", *args)
    assert not IdTag.objects.exists()


def test_it_refuses_an_idtag_over_20_characters(db):
    with pytest.raises(CommandError, match="1 to 20 characters"):
        run("add_idtag", "X" * 21)


def test_it_tops_up_from_the_command_line(db):
    card = prepaid_card("CLI-1")

    output = run("topup", "cli-1", "12.50", "--method", "cash")

    assert "balance 12.50 EUR" in output
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.source, entry.payment_method, entry.created_by) == (
        Decimal("12.50"),
        "cli",
        "cash",
        None,
    )
    assert balance(card) == Decimal("12.50")


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "1.234", "999999"])
def test_it_refuses_a_bad_top_up_amount(db, amount):
    prepaid_card("CLI-2")

    with pytest.raises(CommandError):
        run("topup", "CLI-2", amount)
    assert not LedgerEntry.objects.exists()


def test_it_refuses_to_top_up_blocked_lost_and_personal_cards(db):
    prepaid_card("CLI-3").set_status(IdTag.Status.LOST)
    run("add_idtag", "CLI-4")

    with pytest.raises(CommandError, match="lost"):
        run("topup", "CLI-3", "10")
    with pytest.raises(CommandError, match="personal card"):
        run("topup", "CLI-4", "10")
    with pytest.raises(CommandError, match="No card"):
        run("topup", "NOPE", "10")


def test_it_shows_a_card_with_its_ledger(db):
    prepaid_card("SHOW-1", balance="7.25", owner=driver())

    output = run("show_card", "show-1")

    assert "status: active" in output and "mode: prepaid" in output and "owner: Dana Driver" in output
    assert "balance: 7.25 EUR" in output
    assert "top-up" in output and "7.25 EUR" in output


def test_it_shows_a_card_valid_through_the_day_it_was_registered_until(client, clerk, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    call_command("add_idtag", "EXP-1", "--mode", "prepaid", "--expires", "2027-12-31", stdout=StringIO())
    client.force_login(clerk)

    page = client.get("/cards/EXP-1/").content.decode()

    # Stored as the first moment it is no longer valid; the clerk reads the last valid day.
    assert "2027-12-31" in page and "2028-01-01" not in page
