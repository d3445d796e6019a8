"""The address recorded for a client is the connection's own, unless a trusted proxy forwarded it.

Anyone can send X-Forwarded-For: believed from anyone, it let a client choose
the address recorded for it, and an over-long one made the handshake's record
fail to store. Only the proxies named in TRUSTED_PROXIES are believed.
"""

import asyncio
import ipaddress

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from csms.proxies import forwarded_client
from stations.models import ConnectionAttempt
from tests.conftest import own_server
from tests.ocpp_client import wait_until

behind_proxy_process, behind_proxy = own_server("behind_proxy", TRUSTED_PROXIES="127.0.0.1")


def knock(server, charge_point_id: str, forwarded_for: str) -> None:
    """An unknown charger's handshake (refused with 403) claiming to come from `forwarded_for`."""

    async def handshake():
        with pytest.raises(InvalidStatus):
            async with websockets.connect(
                server.ws_url + charge_point_id,
                subprotocols=["ocpp1.6"],
                additional_headers={"X-Forwarded-For": forwarded_for},
                open_timeout=10,
            ):
                pass

    asyncio.run(handshake())


def recorded_address(charge_point_id: str) -> str:
    attempt = wait_until(
        lambda: ConnectionAttempt.objects.filter(charge_point_id=charge_point_id).first(), 10
    )
    assert attempt, f"the handshake of {charge_point_id} was recorded"
    return attempt.remote_address


def test_it_ignores_a_forwarded_address_from_anyone_but_a_trusted_proxy(csms):
    knock(csms, "SPOOF-1", "203.0.113.9")
    knock(csms, "LONG-1", "1" * 300)

    assert recorded_address("SPOOF-1") == "127.0.0.1"
    assert recorded_address("LONG-1") == "127.0.0.1", (
        "a long header never keeps a handshake from being recorded"
    )


def test_it_takes_the_address_a_trusted_proxy_appended(behind_proxy):
    knock(behind_proxy, "VIA-NGINX", "198.51.100.7, 203.0.113.9")  # the client's say, then what nginx saw
    knock(behind_proxy, "GARBAGE", "not an address, " + "x" * 300)

    assert recorded_address("VIA-NGINX") == "203.0.113.9"
    assert recorded_address("GARBAGE") == "127.0.0.1"


def test_it_skips_trusted_proxies_from_the_right(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]

    assert forwarded_client("198.51.100.7, 10.0.0.2, 10.0.0.3") == "198.51.100.7"
    assert forwarded_client("10.0.0.2") is None
    assert forwarded_client("") is None


def test_it_keeps_every_record_of_a_charging_site_through_an_anonymous_flood(behind_proxy):
    """The audit's flood: refused handshakes with over-long forwarded addresses, beside a charging charger."""
    from ocpp.v16 import call

    from stations.models import MeterValue, Transaction
    from tests.factories import register_charger
    from tests.ocpp_client import connected_charger

    register_charger("CP-1")

    async def flood():
        for n in range(40):
            with pytest.raises(InvalidStatus):
                async with websockets.connect(
                    behind_proxy.ws_url + f"ANON-{n}",
                    subprotocols=["ocpp1.6"],
                    additional_headers={"X-Forwarded-For": "9" * (65 + n * 10)},
                    open_timeout=10,
                ):
                    pass

    async def session():
        async with connected_charger(behind_proxy.ws_url, "CP-1") as cp:
            started = await cp.start_transaction(meter_start=0)
            for minute in range(10):
                reading = {
                    "timestamp": f"2027-03-01T08:{minute:02d}:00Z",
                    "sampled_value": [{"value": str(minute)}],
                }
                await cp.send(
                    call.MeterValues(
                        connector_id=1, transaction_id=started.transaction_id, meter_value=[reading]
                    )
                )
            await cp.stop_transaction(started.transaction_id, 10)
            return started.transaction_id

    async def both():
        return (await asyncio.gather(flood(), session()))[1]

    transaction_id = asyncio.run(both())

    assert Transaction.objects.get(pk=transaction_id).stopped_at is not None
    assert MeterValue.objects.filter(transaction_id=transaction_id).count() == 10
    flooded = ConnectionAttempt.objects.filter(charge_point_id__startswith="ANON-")
    assert wait_until(lambda: flooded.count() == 40, 10), "every refused handshake is recorded"
    assert set(flooded.values_list("remote_address", flat=True)) == {"127.0.0.1"}
