"""Drivers at the front desk, and the front desk role the data migration creates."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from rfid.desk import is_front_desk
from tests.billing.builders import clerk, driver, outsider, prepaid_card


def test_it_creates_the_front_desk_group_with_card_and_top_up_rights_only(db):
    codenames = set(
        Group.objects.get(name="front desk").permissions.values_list("content_type__app_label", "codename")
    )

    assert {("rfid", "use_front_desk"), ("billing", "add_ledgerentry"), ("rfid", "change_idtag")} <= codenames
    assert not {app for app, _ in codenames} & {"stations"}
    assert not any(codename.endswith("_tariff") for _, codename in codenames)


def test_it_knows_a_clerk_from_a_driver(db):
    assert is_front_desk(clerk())
    assert not is_front_desk(driver()) and not is_front_desk(outsider())


def test_it_lets_a_clerk_register_a_driver_and_then_issue_their_card(db):
    desk = Client()
    desk.force_login(clerk())

    registered = desk.post(
        "/drivers/new/",
        {
            "username": "erik",
            "name": "Erik Eriksson",
            "phone": "+46 70 555 0102",
            "email": "erik@example.org",
        },
    )

    erik = get_user_model().objects.get(username="erik")
    assert registered["Location"] == f"/cards/new/?owner={erik.pk}"
    assert not erik.has_usable_password()
    desk.post("/cards/new/", {"id_tag": "ERIK-1", "mode": "prepaid", "owner": erik.pk})
    page = desk.get(f"/drivers/{erik.pk}/").content.decode()
    assert "Erik Eriksson" in page and "ERIK-1" in page


def test_it_shows_a_driver_page_only_to_the_front_desk(db):
    dana = driver()
    prepaid_card("DANA-1", owner=dana, balance="5")
    someone = Client()
    someone.force_login(outsider())

    assert someone.get(f"/drivers/{dana.pk}/").status_code == 403
