"""Chargers connecting: who is let in, what their boot tells us, one live socket per charger."""

import asyncio
import time
from pathlib import Path

import websockets

from stations.gateway import mailbox
from stations.models import Charger, ConnectionAttempt, SiteConfiguration
from tests.factories import register_charger
from tests.ocpp_client import connected_charger, eventually, orm, raw_socket, wait_until


def test_it_accepts_a_registered_charger_and_stores_its_identity(csms):
    register_charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            return await cp.boot(
                vendor="Alfen",
                model="Eve",
                charge_point_serial_number="SN1",
                charge_box_serial_number="BOX1",
                firmware_version="4.12",
                iccid="8931",
                imsi="2620",
                meter_type="ABB",
                meter_serial_number="M1",
            )

    answer = asyncio.run(scenario())

    assert answer.status == "Accepted"
    assert answer.interval == 120
    assert answer.current_time.endswith("Z")
    charger = Charger.objects.get(charge_point_id="CP-1")
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "Alfen",
        "Eve",
        "SN1",
        "4.12",
    )
    assert (charger.iccid, charger.imsi, charger.meter_type, charger.meter_serial_number) == (
        "8931",
        "2620",
        "ABB",
        "M1",
    )
    assert charger.last_boot_at is not None
    assert attempt_outcomes("CP-1") == ["accepted"]


def attempt_outcomes(charge_point_id: str, count: int = 1) -> list[str]:
    """The recorded handshakes of a charger, once the server's write-behind has stored `count`."""
    attempts = ConnectionAttempt.objects.filter(charge_point_id=charge_point_id).order_by("created_at")
    wait_until(lambda: attempts.count() >= count)
    return list(attempts.values_list("outcome", flat=True))


def refused_status(csms, charge_point_id, **kwargs) -> int:
    async def scenario():
        try:
            async with raw_socket(csms.ws_url, charge_point_id, **kwargs):
                return 101
        except websockets.exceptions.InvalidStatus as refusal:
            return refusal.response.status_code

    return asyncio.run(scenario())


def test_it_refuses_an_unknown_charger_and_records_the_attempt(csms):
    assert refused_status(csms, "STRANGER") == 403
    assert attempt_outcomes("STRANGER") == [ConnectionAttempt.Outcome.UNKNOWN]
    attempt = ConnectionAttempt.objects.get(charge_point_id="STRANGER")
    assert attempt.remote_address == "127.0.0.1"
    assert not Charger.objects.filter(charge_point_id="STRANGER").exists()


def test_it_refuses_a_wrong_or_missing_password(csms):
    register_charger("CP-PW", password="right-one")

    assert refused_status(csms, "CP-PW", password="wrong-one") == 403
    assert refused_status(csms, "CP-PW") == 403
    assert attempt_outcomes("CP-PW", count=2) == ["bad_password", "bad_password"]


def test_it_accepts_the_right_password(csms):
    register_charger("CP-PW", password="right-one")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-PW", password="right-one") as cp:
            return await cp.boot()

    assert asyncio.run(scenario()).status == "Accepted"


def test_it_refuses_a_client_offering_no_supported_ocpp_version(csms):
    register_charger("CP-2")

    assert refused_status(csms, "CP-2", subprotocols=("ocpp1.5",)) == 403
    assert attempt_outcomes("CP-2") == ["no_subprotocol"]


def test_it_negotiates_ocpp16_among_several_offers(csms):
    register_charger("CP-3")

    async def scenario():
        async with raw_socket(csms.ws_url, "CP-3", subprotocols=("ocpp2.1", "ocpp1.6")) as ws:
            return ws.subprotocol

    assert asyncio.run(scenario()) == "ocpp1.6"


def test_it_refuses_a_charger_staff_rejected(csms):
    register_charger("CP-BAD", approval=Charger.Approval.REJECTED)

    assert refused_status(csms, "CP-BAD") == 403
    assert attempt_outcomes("CP-BAD") == ["rejected"]


def test_it_decodes_url_encoded_charger_ids(csms):
    register_charger("Site A/Bay 1")

    async def scenario():
        async with connected_charger(csms.ws_url, "Site A/Bay 1") as cp:
            return await cp.boot()

    assert asyncio.run(scenario()).status == "Accepted"
    assert Charger.objects.get(charge_point_id="Site A/Bay 1").vendor == "TestVendor"


def test_it_lets_unknown_chargers_in_as_pending_until_an_operator_approves(csms):
    SiteConfiguration.objects.update_or_create(pk=1, defaults={"accept_unknown_chargers": True})

    async def boot():
        async with connected_charger(csms.ws_url, "NEW-CP") as cp:
            return await cp.boot()

    assert asyncio.run(boot()).status == "Pending"
    charger = Charger.objects.get(charge_point_id="NEW-CP")
    assert charger.approval == Charger.Approval.PENDING

    charger.approval = Charger.Approval.ACCEPTED  # the operator's "approve" action
    charger.save()
    assert asyncio.run(boot()).status == "Accepted"


def test_it_refuses_unknown_chargers_when_the_site_does_not_accept_them(csms):
    SiteConfiguration.objects.update_or_create(pk=1, defaults={"accept_unknown_chargers": False})
    assert refused_status(csms, "NEW-CP") == 403


def test_it_tracks_connection_state(csms):
    register_charger("CP-4")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-4") as cp:
            await cp.boot()
            return await orm(_is_connected, "CP-4")

    connected_while_open = asyncio.run(scenario())

    assert connected_while_open is True
    assert wait_until(lambda: not Charger.objects.get(charge_point_id="CP-4").is_connected)
    charger = Charger.objects.get(charge_point_id="CP-4")
    assert charger.connected_since <= charger.last_seen_at <= charger.disconnected_at
    assert charger.ocpp_version == "1.6"


def test_it_replaces_the_old_socket_when_a_charger_reconnects(remote_csms):
    register_charger("CP-5")

    async def scenario():
        async with raw_socket(remote_csms.ws_url, "CP-5") as old:
            old_socket = await orm(socket_of, "CP-5")  # admitted before the handshake was answered
            async with connected_charger(remote_csms.ws_url, "CP-5") as cp:
                new_socket = await orm(socket_of, "CP-5")
                await asyncio.wait_for(old.wait_closed(), 10)
                answer = await cp.boot()
                let_go = await server_let_go_of(remote_csms, *old_socket)
                charger = await orm(Charger.objects.get, charge_point_id="CP-5")
                return old.close_code, answer.status, old_socket, new_socket, let_go, charger

    close_code, status, old_socket, new_socket, let_go, charger = asyncio.run(scenario())

    assert close_code == 4000
    assert status == "Accepted"
    assert old_socket[1] != new_socket[1]
    assert let_go, "the server never finished handling the old socket's disconnect"
    # The old socket's disconnect has been handled: it must not have marked the charger offline.
    assert (charger.is_connected, charger.channel_name, charger.connection_id) == (True, *new_socket)
    assert charger.disconnected_at is None


def socket_of(charge_point_id) -> tuple[str, str]:
    """(address of the server process holding the charger's socket, the socket's connection id)."""
    return Charger.objects.values_list("channel_name", "connection_id").get(charge_point_id=charge_point_id)


async def server_let_go_of(server, address, connection_id, timeout=10.0) -> bool:
    """Whether the server has finished handling the disconnect of socket `connection_id`.

    Closing the socket's mailbox box is the consumer's very last step, after
    Charger.mark_disconnected; from then on the server drops (and logs) any
    event for that socket. So: post a probe event until the server says it dropped one.
    """
    probe = f"probe.{connection_id}"  # an event type the consumer ignores while its socket is open
    dropped = f"event {probe} for a socket this process no longer holds"
    log, deadline = Path(server.log.name), time.monotonic() + timeout
    while time.monotonic() < deadline:
        await mailbox.post(address, connection_id, {"type": probe})
        if await eventually(lambda: dropped in log.read_text(), timeout=0.5):
            return True
    return False


def _is_connected(charge_point_id):
    return Charger.objects.get(charge_point_id=charge_point_id).is_connected


def test_it_keeps_only_what_the_handlers_read_of_a_connected_charger(db):
    charger = register_charger("CP-1", vendor="Alfen")

    kept = charger.for_socket()

    assert (kept.pk, kept.charge_point_id, kept.is_approved) == (charger.pk, "CP-1", True)
    every_field = {field.attname for field in Charger._meta.concrete_fields}
    assert kept.get_deferred_fields() == every_field - set(Charger.SOCKET_FIELDS)
    assert kept.vendor == "Alfen"  # loaded on first use, off the event loop
