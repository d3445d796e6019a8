"""Site staff see chargers, sessions and the message log in the admin."""

import pytest
from django.utils import timezone

from stations.models import Charger, MessageLog, MeterValue, Transaction


@pytest.fixture
def session(db):
    charger = Charger.objects.create(charge_point_id="CP-1", is_connected=True, vendor="Alfen")
    started = Transaction.objects.create(charger=charger, connector_id=1, id_tag="TAG", id_tag_status="Accepted",
                                         meter_start=0, started_at=timezone.now(), meter_stop=12345,
                                         stopped_at=timezone.now())
    MeterValue.objects.create(charger=charger, connector_id=1, transaction=started, timestamp=timezone.now(),
                              value="12345", numeric_value=12345)
    MessageLog.objects.create(charge_point_id="CP-1", direction="in", message_type=2, message_id="m1",
                              action="Heartbeat", payload='[2,"m1","Heartbeat",{}]')
    return started


@pytest.mark.parametrize("page", [
    "/admin/stations/charger/", "/admin/stations/charger/?q=alfen", "/admin/stations/transaction/",
    "/admin/stations/metervalue/", "/admin/stations/messagelog/?q=Heartbeat", "/admin/stations/statusnotification/",
    "/admin/stations/connectionattempt/", "/admin/stations/connector/",
])
def test_it_shows_an_operator_the_station_pages(client, admin, session, page):
    client.force_login(admin)
    assert client.get(page).status_code == 200


def test_it_shows_a_session_with_its_meter_values(client, admin, session):
    client.force_login(admin)

    page = client.get(f"/admin/stations/transaction/{session.pk}/change/").content.decode()

    assert "12345" in page and "Energy.Active.Import.Register" in page


def test_it_finds_messages_by_charger(client, admin, session):
    client.force_login(admin)
    page = client.get("/admin/stations/messagelog/?q=CP-1").content.decode()
    assert "m1" in page


def test_it_approves_pending_chargers_in_bulk(client, admin, db):
    pending = Charger.objects.create(charge_point_id="NEW", approval=Charger.Approval.PENDING)
    client.force_login(admin)

    client.post("/admin/stations/charger/", {"action": "approve", "_selected_action": [pending.pk]})

    pending.refresh_from_db()
    assert pending.approval == "accepted"


def test_it_stores_a_password_typed_in_the_admin_hashed(client, admin, db):
    charger = Charger.objects.create(charge_point_id="CP-9")
    client.force_login(admin)

    client.post(f"/admin/stations/charger/{charger.pk}/change/",
                {"charge_point_id": "CP-9", "name": "", "approval": "accepted", "new_password": "typed-pw",
                 "connectors-TOTAL_FORMS": 0, "connectors-INITIAL_FORMS": 0})

    charger.refresh_from_db()
    assert charger.password.startswith("pbkdf2_sha256_charger$") and charger.check_password("typed-pw")


def test_it_sends_someone_from_outside_to_the_login_page(client, session):
    response = client.get("/admin/stations/messagelog/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_tells_staff_when_a_connected_charger_has_gone_silent(client, admin, db, time_machine):
    time_machine.move_to("2026-11-21 10:00:00Z", tick=False)
    Charger.objects.create(charge_point_id="CP-SILENT", is_connected=True, connected_since=timezone.now(),
                           last_seen_at=timezone.now())
    client.force_login(admin)
    assert "online since" in client.get("/chargers/CP-SILENT/").content.decode()

    time_machine.move_to("2026-11-21 10:11:00Z", tick=False)  # two 300 s heartbeats and 30 s missed

    page = client.get("/chargers/CP-SILENT/").content.decode()
    assert "no contact since 2026-11-21 10:00:00" in page
