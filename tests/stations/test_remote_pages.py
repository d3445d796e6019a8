"""The charger pages: staff see chargers and their history; only operators operate them."""

import asyncio

from django.test import Client

from stations.models import Command, Reservation
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, orm


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def operate(server, user, charge_point_id, operation, data, prepare=None):
    """Post an operation form of the charger page while the charger is live; returns the followed page."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, cls=AnsweringCharger) as cp:
            await cp.boot()
            if prepare:
                prepare(cp)
            form = {f"{operation}-{field}": value for field, value in data.items()}
            url = f"/chargers/{charge_point_id}/operate/{operation}/"
            page = await orm(lambda: browser(user).post(url, form, follow=True))
            return page, cp.received

    return asyncio.run(scenario())


def test_it_lists_chargers_with_their_connection_state(remote_csms, clerk):
    register_charger("CP-1", is_connected=True)
    register_charger("CP-2")

    page = browser(clerk).get("/chargers/")

    assert page.status_code == 200
    assert "CP-1" in page.content.decode() and "online since" in page.content.decode()
    assert page.content.decode().count("offline") == 1


def test_it_refuses_the_pages_to_non_staff(remote_csms, outsider):
    register_charger("CP-1")

    for url in ("/chargers/", "/chargers/CP-1/"):
        assert browser(outsider).get(url).status_code == 302  # to the staff sign-in


def test_it_shows_the_page_but_no_operations_to_a_clerk_and_refuses_their_posts(remote_csms, clerk):
    register_charger("CP-1")

    page = browser(clerk).get("/chargers/CP-1/")
    refused = browser(clerk).post("/chargers/CP-1/operate/reset/", {"reset-type": "Hard"})

    assert page.status_code == 200 and "CP-1" in page.content.decode()
    assert "Operate" not in page.content.decode()
    assert refused.status_code == 403
    assert not Command.objects.exists()


def test_it_refuses_a_post_without_csrf_token(remote_csms, operator):
    register_charger("CP-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    assert client.post("/chargers/CP-1/operate/reset/", {"reset-type": "Hard"}).status_code == 403
    assert not Command.objects.exists()


def test_it_resets_a_charger_from_its_page_and_shows_who_did_what(remote_csms, operator):
    register_charger("CP-1")

    page, received = operate(remote_csms, operator, "CP-1", "reset", {"type": "Hard"})

    assert received == [("Reset", {"type": "Hard"})]
    html = page.content.decode()
    assert "Reset: accepted" in html  # the outcome message
    command = Command.objects.get()
    assert (command.requested_by, command.source, command.status) == (operator, "web", "accepted")
    assert page.context["history"][0] == command
    assert "Olga Operator (charger page)" in html


def test_it_shows_the_configuration_read_from_the_page(remote_csms, operator):
    register_charger("CP-1")

    page, _ = operate(remote_csms, operator, "CP-1", "get-configuration", {"keys": ""})

    assert [(c.key, c.value) for c in page.context["configuration"]] == [
        ("HeartbeatInterval", "300"),
        ("NumberOfConnectors", "2"),
    ]
    assert "NumberOfConnectors" in page.content.decode()


def test_it_shows_a_reboot_required_answer(remote_csms, operator):
    register_charger("CP-1")

    def reboot_required(cp):
        cp.answers["ChangeConfiguration"] = {"status": "RebootRequired"}

    page, _ = operate(
        remote_csms,
        operator,
        "CP-1",
        "change-configuration",
        {"key": "MeterValueSampleInterval", "value": "30"},
        prepare=reboot_required,
    )

    assert "Change configuration: accepted — reboot required" in page.content.decode()


def test_it_reserves_from_the_page_and_offers_to_cancel(remote_csms, operator):
    register_charger("CP-1")

    page, received = operate(
        remote_csms, operator, "CP-1", "reserve", {"connector": "2", "id_tag": "DRIVER-9", "minutes": "15"}
    )

    reservation = Reservation.objects.get()
    assert received[0][1]["reservationId"] == reservation.pk
    assert (reservation.status, reservation.connector_id, reservation.requested_by) == ("active", 2, operator)
    assert f'name="cancel-reservation-reservation" value="{reservation.pk}"' in page.content.decode()


def test_it_sends_the_local_list_built_from_the_cards(remote_csms, operator):
    from rfid.models import IdTag

    register_charger("CP-1")
    IdTag.objects.create(id_tag="DRIVER-1")

    page, received = operate(remote_csms, operator, "CP-1", "send-local-list", {})

    action, payload = received[0]
    assert (action, payload["listVersion"], payload["updateType"]) == ("SendLocalList", 1, "Full")
    assert [entry["idTag"] for entry in payload["localAuthorizationList"]] == ["DRIVER-1"]


def test_it_shows_an_invalid_form_again_with_its_errors(remote_csms, operator):
    register_charger("CP-1")

    page = browser(operator).post(
        "/chargers/CP-1/operate/limit/", {"limit-connector": "0", "limit-limit": "-1"}
    )

    assert page.status_code == 400
    assert page.context["forms"]  # the page itself, with the bound form
    assert "greater than or equal to 0" in page.content.decode()
    assert not Command.objects.exists()


def test_it_says_offline_at_once_on_the_page(remote_csms, operator):
    register_charger("CP/1 west")

    page = browser(operator).post("/chargers/CP%2F1%20west/operate/clear-cache/", follow=True)

    assert page.request["PATH_INFO"] == "/chargers/CP/1 west/"
    assert "Clear authorization cache: charger offline: the charger is not connected" in page.content.decode()
