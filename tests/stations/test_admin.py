"""Site staff see chargers, sessions and the message log in the admin; operators see what their role holds."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services as billing_services
from billing.models import LedgerEntry, SessionCharge, Tariff
from stations.models import (
    Charger,
    ConnectionAttempt,
    Connector,
    MessageLog,
    MeterValue,
    StatusNotification,
    Transaction,
)


@pytest.fixture
def session(db):
    """One charger's records of each kind, and a second charger's, for the searches to leave out."""
    charger = Charger.objects.create(charge_point_id="CP-1", is_connected=True, vendor="Alfen")
    Charger.objects.create(charge_point_id="CP-2", vendor="ABB")
    started = Transaction.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="TAG",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
        meter_stop=12345,
        stopped_at=timezone.now(),
    )
    MeterValue.objects.create(
        charger=charger,
        connector_id=1,
        transaction=started,
        timestamp=timezone.now(),
        value="12345",
        numeric_value=12345,
    )
    MessageLog.objects.create(
        charge_point_id="CP-1",
        direction="in",
        message_type=2,
        message_id="m1",
        action="Heartbeat",
        payload='[2,"m1","Heartbeat",{}]',
    )
    MessageLog.objects.create(
        charge_point_id="CP-2",
        direction="in",
        message_type=2,
        message_id="boot-of-cp-2",
        action="BootNotification",
        payload='[2,"boot-of-cp-2","BootNotification",{}]',
    )
    StatusNotification.objects.create(
        charger=charger, connector_id=1, status="Charging", error_code="NoError", info="plug locked"
    )
    Connector.objects.create(charger=charger, connector_id=1, status="Charging", info="car asleep")
    ConnectionAttempt.objects.create(charge_point_id="STRANGER", remote_address="10.0.0.7", outcome="unknown")
    return started


# Each page, what it must show of the records above, what its search or filter must leave out,
# and whether the Operators role (Olga) holds the view permission for it.
STATION_PAGES = [
    ("/admin/stations/charger/", ["CP-1", "CP-2"], [], True),
    ("/admin/stations/charger/?q=alfen", ["CP-1"], ["CP-2"], True),
    ("/admin/stations/transaction/", ["CP-1", "TAG", "12.345"], [], True),  # energy in kWh
    ("/admin/stations/statusnotification/", ["Charging", "plug locked"], [], True),
    ("/admin/stations/connector/", ["Charging", "car asleep"], [], True),
    ("/admin/stations/metervalue/", ["12345", "Energy.Active.Import.Register"], [], False),
    ("/admin/stations/messagelog/?q=Heartbeat", ["m1", "Heartbeat"], ["boot-of-cp-2"], False),
    ("/admin/stations/connectionattempt/", ["STRANGER", "10.0.0.7"], [], False),
]
OPERATOR_PAGES = [
    (page, shown, left_out) for page, shown, left_out, operator_may in STATION_PAGES if operator_may
]
RAW_RECORD_PAGES = [
    (page, shown, left_out) for page, shown, left_out, operator_may in STATION_PAGES if not operator_may
]


def shows(client, page, shown, left_out) -> str:
    response = client.get(page)
    assert response.status_code == 200, page
    html = response.content.decode()
    assert [text for text in shown if text not in html] == [], page
    assert [text for text in left_out if text in html] == [], page
    return html


@pytest.mark.parametrize("page,shown,left_out", OPERATOR_PAGES)
def test_it_shows_an_operator_the_station_pages(client, operator, session, page, shown, left_out):
    client.force_login(operator)
    shows(client, page, shown, left_out)


@pytest.mark.parametrize("page,shown,left_out", RAW_RECORD_PAGES)
def test_it_shows_the_site_admin_the_raw_records_an_operator_may_not_see(
    client, admin, operator, session, page, shown, left_out
):
    client.force_login(admin)
    shows(client, page, shown, left_out)

    client.force_login(operator)
    assert client.get(page).status_code == 403


def test_it_shows_a_session_with_its_meter_values(client, admin, session):
    client.force_login(admin)

    page = client.get(f"/admin/stations/transaction/{session.pk}/change/").content.decode()

    assert "12345" in page and "Energy.Active.Import.Register" in page


def test_it_finds_messages_by_charger(client, admin, session):
    client.force_login(admin)
    page = client.get("/admin/stations/messagelog/?q=CP-1")

    assert [entry.message_id for entry in page.context["cl"].result_list] == ["m1"]
    assert "m1" in page.content.decode() and "boot-of-cp-2" not in page.content.decode()


def test_it_approves_pending_chargers_in_bulk(client, admin, db):
    pending = Charger.objects.create(charge_point_id="NEW", approval=Charger.Approval.PENDING)
    client.force_login(admin)

    client.post("/admin/stations/charger/", {"action": "approve", "_selected_action": [pending.pk]})

    pending.refresh_from_db()
    assert pending.approval == "accepted"


def test_it_stores_a_password_typed_in_the_admin_hashed(client, admin, db):
    charger = Charger.objects.create(charge_point_id="CP-9")
    client.force_login(admin)

    client.post(
        f"/admin/stations/charger/{charger.pk}/change/",
        {
            "charge_point_id": "CP-9",
            "name": "",
            "approval": "accepted",
            "security_profile": 1,
            "new_password": "typed-pw",
            "connectors-TOTAL_FORMS": 0,
            "connectors-INITIAL_FORMS": 0,
        },
    )

    charger.refresh_from_db()
    assert charger.password.startswith("pbkdf2_sha256_charger$") and charger.check_password("typed-pw")


def test_it_sends_someone_from_outside_to_the_login_page(client, session):
    response = client.get("/admin/stations/messagelog/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_tells_staff_when_a_connected_charger_has_gone_silent(client, admin, db, time_machine):
    time_machine.move_to("2026-11-21 10:00:00Z", tick=False)
    Charger.objects.create(
        charge_point_id="CP-SILENT",
        is_connected=True,
        connected_since=timezone.now(),
        last_seen_at=timezone.now(),
    )
    client.force_login(admin)
    assert "online since" in client.get("/chargers/CP-SILENT/").content.decode()

    time_machine.move_to("2026-11-21 10:11:00Z", tick=False)  # two 300 s heartbeats and 30 s missed

    page = client.get("/chargers/CP-SILENT/").content.decode()
    assert "no contact since 2026-11-21 10:00:00" in page


# Money and time in one format; history that cannot be deleted. ------------------------------------


@pytest.fixture
def billed_session(db, settings, time_machine):
    """A prepaid session in Berlin: 2,067 Wh at 0.30 EUR/kWh (0.62 EUR), stopped 2027-03-01 10:00 CET."""
    from tests.billing.builders import T0, default_tariff, finished_session, prepaid_card

    settings.TIME_ZONE = "Europe/Berlin"
    time_machine.move_to(T0 + timedelta(hours=2), tick=False)
    default_tariff()
    Tariff.objects.create(name="Peak", currency="EUR", price_per_kwh=Decimal("0.3249"))
    prepaid_card("PREPAID1", balance="10")
    session = finished_session("PREPAID1", wh=2_067)
    MeterValue.objects.create(
        charger=session.charger,
        connector_id=1,
        transaction=session,
        timestamp=T0,
        value="1000",
        numeric_value=1000,
    )
    billing_services.settle_transaction(transaction=session)
    return session


MONEY_PAGES = [
    ("/admin/billing/sessioncharge/", ["0.62 EUR", "2.067"]),
    ("/admin/billing/ledgerentry/", ["10.00 EUR", "-0.62 EUR", "9.38 EUR"]),
    ("/admin/billing/account/", ["9.38 EUR"]),
    ("/admin/billing/tariff/", ["0.30 EUR/kWh", "0.3249 EUR/kWh", "0.00 EUR"]),
]


@pytest.mark.parametrize("page,shown", MONEY_PAGES)
def test_it_shows_money_with_its_currency_and_decimals(client, admin, billed_session, page, shown):
    client.force_login(admin)

    html = shows(client, page, shown, [])

    assert not re.search(r"\d\.\d{4}\b(?! EUR/)", html), "no amount with the columns' four decimals"


def test_it_shows_a_session_charge_in_money_on_its_own_page_too(client, admin, billed_session):
    client.force_login(admin)
    charge = SessionCharge.objects.get()

    html = client.get(f"/admin/billing/sessioncharge/{charge.pk}/change/").content.decode()

    assert "0.62 EUR" in html and "0.6200" not in html
    assert "2027-03-01 11:00:00 CET" in html  # created_at: frozen at 10:00 UTC


TIME_PAGES = [
    "/admin/stations/transaction/",
    "/admin/stations/metervalue/",
    "/admin/billing/ledgerentry/",
    "/admin/billing/sessioncharge/",
]


@pytest.mark.parametrize("page", TIME_PAGES)
def test_it_shows_every_moment_in_the_site_zone_in_one_format(client, admin, billed_session, page):
    client.force_login(admin)

    html = client.get(page).content.decode()

    moments = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{3,4}", html)
    assert moments and set(moments) <= {
        "2027-03-01 09:00:00 CET",  # the start and the sample (08:00 UTC)
        "2027-03-01 10:00:00 CET",  # the stop
        "2027-03-01 11:00:00 CET",  # rows written now (10:00 UTC)
    }, moments
    assert "a.m." not in html and "p.m." not in html  # Django's own format, gone


def test_it_shows_the_moments_of_a_session_page_and_a_charger_page_the_same_way(
    client, admin, billed_session
):
    Charger.objects.filter(pk=billed_session.charger_id).update(last_seen_at=billed_session.stopped_at)
    client.force_login(admin)

    session_page = client.get(f"/admin/stations/transaction/{billed_session.pk}/change/").content.decode()
    charger_page = client.get(f"/admin/stations/charger/{billed_session.charger_id}/change/").content.decode()

    assert "2027-03-01 09:00:00 CET" in session_page and "2027-03-01 10:00:00 CET" in session_page
    assert "2027-03-01 10:00:00 CET" in charger_page  # last seen, read-only


NEVER_DELETED = [
    ("stations", "transaction", lambda: Transaction.objects.get()),
    ("stations", "metervalue", lambda: MeterValue.objects.get()),
    ("billing", "ledgerentry", lambda: LedgerEntry.objects.order_by("id").last()),
    ("billing", "sessioncharge", lambda: SessionCharge.objects.get()),
]


@pytest.mark.parametrize("app,model,row", NEVER_DELETED)
def test_it_never_deletes_sessions_meter_values_ledger_entries_or_charges(
    client, admin, billed_session, app, model, row
):
    admin.is_superuser = True  # not even a superuser
    admin.save()
    client.force_login(admin)
    record = row()
    listing = f"/admin/{app}/{model}/"

    assert "delete_selected" not in client.get(listing).content.decode()
    client.post(listing, {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})
    refused = client.post(f"{listing}{record.pk}/delete/", {"post": "yes"})

    assert refused.status_code == 403
    assert type(record).objects.filter(pk=record.pk).exists()


def test_it_opens_every_list_and_the_page_of_every_row_it_has(client, admin, session, billed_session):
    from django.contrib.admin import site

    admin.is_superuser = True
    admin.save()
    client.force_login(admin)

    for model in site._registry:
        listing = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(listing).status_code == 200, listing
        for pk in model.objects.values_list("pk", flat=True)[:3]:
            page = f"{listing}{pk}/change/"
            assert client.get(page).status_code == 200, page
