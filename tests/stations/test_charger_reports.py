"""Everything a charger reports besides sessions is answered and stored."""

import asyncio

from ocpp.v16 import call

from rfid.models import IdTag
from stations.models import Charger, Connector, DataTransferMessage, StatusNotification
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, wait_until


def run_as_charger(csms, charge_point_id, *payloads):
    """Connect as a registered charger, send each payload, return the answers."""

    async def scenario():
        async with connected_charger(csms.ws_url, charge_point_id) as cp:
            return [await cp.send(payload) for payload in payloads]

    return asyncio.run(scenario())


def test_it_answers_heartbeats_with_the_time_and_records_them(csms):
    register_charger("CP-1")

    [answer] = run_as_charger(csms, "CP-1", call.Heartbeat())

    assert answer.current_time.endswith("Z")
    assert wait_until(lambda: Charger.objects.get(charge_point_id="CP-1").last_heartbeat_at is not None)


def test_it_keeps_the_latest_status_per_connector_and_the_history(csms):
    charger = register_charger("CP-1")

    run_as_charger(
        csms,
        "CP-1",
        call.StatusNotification(connector_id=0, error_code="NoError", status="Available"),
        call.StatusNotification(
            connector_id=1, error_code="NoError", status="Preparing", timestamp="2026-11-21T10:00:00Z"
        ),
        call.StatusNotification(
            connector_id=1,
            error_code="GroundFailure",
            status="Faulted",
            info="RCD tripped",
            vendor_id="Alfen",
            vendor_error_code="E42",
            timestamp="2026-11-21T10:05:00Z",
        ),
    )

    assert wait_until(lambda: StatusNotification.objects.filter(charger=charger).count() == 3)
    connector = Connector.objects.get(charger=charger, connector_id=1)
    assert (connector.status, connector.error_code, connector.info, connector.vendor_error_code) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
        "E42",
    )
    assert connector.status_at.isoformat() == "2026-11-21T10:05:00+00:00"
    assert Connector.objects.get(charger=charger, connector_id=0).status == "Available"
    history = StatusNotification.objects.filter(charger=charger, connector_id=1).order_by("id")
    assert [s.status for s in history] == ["Preparing", "Faulted"]
    assert history[1].vendor_id == "Alfen"


def test_it_accepts_a_registered_id_tag_and_refuses_others(csms):
    register_charger("CP-1")
    IdTag.objects.create(id_tag="04AABBCC")

    known, lowercase, unknown = run_as_charger(
        csms,
        "CP-1",
        call.Authorize(id_tag="04AABBCC"),
        call.Authorize(id_tag="04aabbcc"),
        call.Authorize(id_tag="DEADBEEF"),
    )

    assert known.id_tag_info == {"status": "Accepted"}
    assert lowercase.id_tag_info == {"status": "Accepted"}, "readers differ in case; the card is the same"
    assert unknown.id_tag_info == {"status": "Invalid"}


def test_it_stores_vendor_data_transfers(csms):
    charger = register_charger("CP-1")

    [answer] = run_as_charger(
        csms, "CP-1", call.DataTransfer(vendor_id="com.alfen", message_id="Diag", data='{"t": 41}')
    )

    # Stored for staff, but no vendor's messages are implemented (OCPP 1.6 §4.3).
    assert answer.status == "UnknownVendorId"
    stored = DataTransferMessage.objects.get(charger=charger)
    assert (stored.vendor_id, stored.message_id, stored.data) == ("com.alfen", "Diag", '{"t": 41}')


def test_it_follows_firmware_and_diagnostics_progress(csms):
    register_charger("CP-1")

    run_as_charger(
        csms,
        "CP-1",
        call.FirmwareStatusNotification(status="Downloading"),
        call.FirmwareStatusNotification(status="Installed"),
        call.DiagnosticsStatusNotification(status="Uploaded"),
    )

    charger = Charger.objects.get(charge_point_id="CP-1")
    assert (charger.firmware_status, charger.diagnostics_status) == ("Installed", "Uploaded")
    assert charger.firmware_status_at and charger.diagnostics_status_at
