"""The charger pages: staff see chargers and their history; only operators operate them."""

import asyncio
import re

from django.contrib.auth.models import Permission
from django.test import Client

from stations.forms import OPERATION_GROUPS, OPERATIONS, OPERATIONS_201
from stations.models import Command, Connector, Reservation
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


def test_it_lists_chargers_with_their_connection_state(remote_csms, operator):
    register_charger("CP-1", is_connected=True)
    register_charger("CP-2")

    page = browser(operator).get("/chargers/")

    assert page.status_code == 200
    assert "CP-1" in page.content.decode() and "online since" in page.content.decode()
    assert page.content.decode().count("offline") == 1


def test_it_refuses_the_pages_to_non_staff(remote_csms, outsider, clerk):
    register_charger("CP-1")

    for url in ("/chargers/", "/chargers/CP-1/"):
        assert Client().get(url)["Location"] == f"/login/?next={url}"
        assert browser(outsider).get(url).status_code == 403
        assert browser(clerk).get(url).status_code == 403  # the front desk has nothing to do with chargers


def test_it_shows_the_page_but_no_operations_to_a_watcher_and_refuses_their_posts(remote_csms, outsider):
    register_charger("CP-1")
    outsider.user_permissions.add(Permission.objects.get(codename="view_charger"))  # chargers, no commands

    page = browser(outsider).get("/chargers/CP-1/")
    refused = browser(outsider).post("/chargers/CP-1/operate/reset/", {"reset-type": "Hard"})

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
    assert page.context["operation_groups"]  # the page itself, with the bound form
    assert "greater than or equal to 0" in page.content.decode()
    assert not Command.objects.exists()


def test_it_says_offline_at_once_on_the_page(remote_csms, operator):
    register_charger("CP/1 west")

    page = browser(operator).post("/chargers/CP%2F1%20west/operate/clear-cache/", follow=True)

    assert page.request["PATH_INFO"] == "/chargers/CP/1 west/"
    assert "Clear authorization cache: charger offline: the charger is not connected" in page.content.decode()


# The page's layout: status and figures first, the operations in sections, a readable history. --------

# Minimal valid input for each operation's form: every one must still be reachable and post.
EVERY_OPERATION = {
    "remote-start": {"connector": "1", "id_tag": "DRIVER-1", "unit": "kW"},
    "remote-stop": {"transaction": "5"},
    "limit": {"connector": "0", "limit": "11", "unit": "kW"},
    "clear-limit": {"connector": "0"},
    "composite-schedule": {"connector": "0", "duration": "3600"},
    "reset": {"type": "Soft"},
    "unlock": {"connector": "1"},
    "availability": {"connector": "0", "type": "Inoperative"},
    "get-configuration": {"keys": ""},
    "change-configuration": {"key": "HeartbeatInterval", "value": "600"},
    "clear-cache": {},
    "trigger": {"message": "Heartbeat"},
    "update-firmware": {"location": "https://firmware.example/2.1.bin"},
    "get-diagnostics": {"location": "ftp://diagnostics.example/"},
    "send-local-list": {},
    "local-list-version": {},
    "reserve": {"connector": "1", "id_tag": "DRIVER-1", "minutes": "15"},
    "cancel-reservation": {"reservation": "1"},
    "data-transfer": {"vendor_id": "com.example"},
    "install-certificate": {
        "certificate_type": "CentralSystemRootCertificate",
        "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    },
    "installed-certificates": {"certificate_type": "ManufacturerRootCertificate"},
    "delete-certificate": {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": "ab12",
        "issuer_key_hash": "cd34",
        "serial_number": "01",
    },
    "extended-trigger": {"message": "SignChargePointCertificate"},
    "get-log": {"log_type": "SecurityLog", "location": "https://logs.example/upload"},
    "signed-update-firmware": {
        "location": "https://firmware.example/2.2.bin",
        "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "signature": "c2lnbmF0dXJl",
    },
}


def section_of(html: str, key: str) -> str:
    """The HTML of one section of operations (a <details>), opening tag included."""
    start = html.index(f'id="operations-{key}"')
    return html[html.rindex("<details", 0, start) : html.index("</details>", start)]


def test_it_puts_every_operation_in_exactly_one_closed_section(db, operator):
    register_charger("CP-1")

    html = browser(operator).get("/chargers/CP-1/").content.decode()

    grouped = [slug for _key, _title, slugs in OPERATION_GROUPS for slug in slugs]
    assert sorted(grouped) == sorted(OPERATIONS.keys() | OPERATIONS_201.keys())  # 2.0.1's own ones too
    assert sorted(OPERATIONS) == sorted(EVERY_OPERATION)
    for key, _title, slugs in OPERATION_GROUPS:
        section = section_of(html, key)
        assert " open" not in section.split(">", 1)[0], key  # closed until someone opens it
        for slug in [slug for slug in slugs if slug in OPERATIONS]:  # a 1.6 charger's
            assert f'id="operate-{slug}"' in section, slug
            assert f'action="/chargers/CP-1/operate/{slug}/"' in section, slug
            assert [f for f in EVERY_OPERATION[slug] if f'name="{slug}-{f}"' not in section] == [], slug
    assert html.index('id="daily"') < html.index('id="operate"') < html.index('id="history"')


def test_it_posts_every_operation_from_its_section(db, operator):
    register_charger("CP-1")
    client = browser(operator)

    for slug, data in EVERY_OPERATION.items():
        form = {f"{slug}-{field}": value for field, value in data.items()}
        page = client.post(f"/chargers/CP-1/operate/{slug}/", form, follow=True)
        title = OPERATIONS[slug].title
        assert f"{title}: charger offline: the charger is not connected" in page.content.decode(), slug

    sent = list(Command.objects.order_by("id").values_list("action", "status"))
    assert sent == [(OPERATIONS[slug].action, "offline") for slug in EVERY_OPERATION]


def test_it_opens_the_section_of_a_form_sent_back_with_errors(db, operator):
    register_charger("CP-1")

    page = browser(operator).post("/chargers/CP-1/operate/reserve/", {"reserve-connector": "1"})

    html = page.content.decode()
    assert page.status_code == 400
    assert " open" in section_of(html, "session").split(">", 1)[0]
    assert " open" not in section_of(html, "power").split(">", 1)[0]
    assert "This field is required." in section_of(html, "session")


def test_it_shows_what_was_sent_and_answered_as_lines_with_the_json_folded(db, operator):
    charger = register_charger("CP-1")
    keys = [{"key": f"Key{n}", "readonly": n == 0, "value": "x" * 200} for n in range(30)]
    Command.objects.create(
        charger=charger,
        action="GetConfiguration",
        payload={"key": ["HeartbeatInterval"]},
        response={"configurationKey": keys, "unknownKey": ["Colour"]},
        status=Command.Status.ACCEPTED,
        requested_by=operator,
        source=Command.Source.WEB,
    )
    Command.objects.create(
        charger=charger,
        action="SetChargingProfile",
        payload={"connectorId": 0, "csChargingProfiles": {"chargingSchedule": {"chargingRateUnit": "A"}}},
        response={"status": "Rejected"},
        status=Command.Status.REJECTED,
        source=Command.Source.API,
    )

    html = browser(operator).get("/chargers/CP-1/").content.decode()
    history = html[html.index('id="history"') :]

    assert "{&#x27;" not in history and "{'" not in history  # no Python dicts any more
    assert "<dt>Connector</dt><dd>0</dd>" in history
    assert "<dt>Charging profile › Charging schedule › Unit</dt><dd>A</dd>" in history
    assert (
        "<dt>Status</dt><dd>Rejected</dd>" in history and '<span class="outcome">rejected</span>' in history
    )
    first_key = re.search(r"<dd>(Key: Key0, [^<]*)</dd>", history).group(
        1
    )  # PostgreSQL reorders a JSON's keys
    assert sorted(first_key.split(", ")) == ["Key: Key0", "Read-only: yes", f"Value: {'x' * 200}"]
    assert "<dt>…</dt><dd>20 more lines: see the JSON</dd>" in history  # 31 lines, 11 shown
    assert "&quot;unknownKey&quot;: [\n    &quot;Colour&quot;" in history  # the JSON, in its <details>
    assert "(charger page)" in history and "(REST API)" in history


def test_it_opens_a_section_and_sends_from_it_in_a_browser(csms, operator, browser_page, phone_page):
    from playwright.sync_api import expect

    from tests.browser import screenshot, sign_in

    charger = register_charger(
        "CP-1", name="Bay 1", vendor="Alfen", model="Eve Double", firmware_version="6.3"
    )
    Connector.objects.create(charger=charger, connector_id=1, status="Available")
    Connector.objects.create(charger=charger, connector_id=2, status="Faulted", error_code="GroundFailure")
    long_data = "calibration=" + "0123456789abcdef" * 12
    Command.objects.create(
        charger=charger,
        action="DataTransfer",
        payload={"vendorId": "com.alfen", "data": long_data},
        response={"status": "Accepted", "data": long_data},
        status=Command.Status.ACCEPTED,
        requested_by=operator,
        source=Command.Source.WEB,
    )
    sign_in(browser_page, csms.url, "olga")
    browser_page.goto(f"{csms.url}/chargers/CP-1/")
    limit = browser_page.locator("#operate-limit")
    expect(limit).to_be_hidden()

    browser_page.locator("#operations-power > summary").click()
    limit.locator('[name="limit-limit"]').fill("11")
    browser_page.locator("#operations-session > summary").click()
    screenshot(browser_page, "charger-page-sections-open")
    limit.locator("button").click()

    expect(browser_page.locator(".message")).to_have_text(
        "Limit power: charger offline: the charger is not connected"
    )
    expect(browser_page.locator("#history tbody tr").first).to_contain_text("SetChargingProfile")
    screenshot(browser_page, "charger-page-laptop")
    sign_in(phone_page, csms.url, "olga")
    phone_page.goto(f"{csms.url}/chargers/CP-1/")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows the phone
    screenshot(phone_page, "charger-page-phone")


def test_it_warns_on_the_charger_page_when_its_sessions_would_be_priced_at_zero(db, operator):
    from billing.models import Tariff

    register_charger("CP-1")
    warning = "This charger has no tariff and there is no default tariff"

    unpriced = browser(operator).get("/chargers/CP-1/").content.decode()
    Tariff.objects.create(name="Standard", is_default=True)
    priced = browser(operator).get("/chargers/CP-1/").content.decode()

    assert warning in unpriced and unpriced.index(warning) < unpriced.index('id="status-heading"')
    assert warning not in priced
