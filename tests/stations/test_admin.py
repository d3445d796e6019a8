"""Site staff see chargers, sessions and the message log in the admin; operators see what their role holds."""

import pytest
from django.utils import timezone

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
