"""Who gets in at the handshake: the charge point id as Basic user name, and guessing slowed down.

A dedicated server believes X-Forwarded-For from the test (TRUSTED_PROXIES), so
each handshake can come from an address of its own; its failure counts are its
own, apart from the rest of the suite's server.
"""

import asyncio
import time

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from csms.throttle import FailureWindow, Spacing
from stations.models import ConnectionAttempt
from stations.services import OWN_ADDRESS_CHECKS
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import basic_auth, wait_until

KEY = "correct-horse-battery-staple"


door_process, door = own_server("door", TRUSTED_PROXIES="127.0.0.1")


def knock(server, charge_point_id: str, password: str, address: str, username: str | None = None) -> bool:
    """One handshake from `address`; True when the socket was accepted."""
    headers = {**basic_auth(username or charge_point_id, password), "X-Forwarded-For": address}

    async def handshake():
        try:
            async with websockets.connect(
                server.ws_url + charge_point_id,
                subprotocols=["ocpp1.6"],
                additional_headers=headers,
                open_timeout=10,
            ):
                return True
        except InvalidStatus:
            return False

    return asyncio.run(handshake())


def outcomes(charge_point_id: str, count: int) -> list[str]:
    attempts = ConnectionAttempt.objects.filter(charge_point_id=charge_point_id).order_by("created_at", "id")
    assert wait_until(lambda: attempts.count() >= count, 10), "every handshake is recorded"
    return list(attempts.values_list("outcome", flat=True))


def test_it_needs_the_charge_point_id_as_user_name(door):
    register_charger("CP-1", password=KEY)

    assert not knock(door, "CP-1", KEY, "198.51.100.1", username="somebody-else")
    assert knock(door, "CP-1", KEY, "198.51.100.1")
    assert outcomes("CP-1", 2) == ["bad_password", "accepted"]


def test_it_refuses_a_guesser_even_the_right_password_after_ten_failures(door):
    register_charger("CP-2", password=KEY)

    guesses = [knock(door, "CP-2", f"guess-{n}", "203.0.113.5") for n in range(10)]
    lucky = knock(door, "CP-2", KEY, "203.0.113.5")

    assert not any(guesses) and not lucky
    assert outcomes("CP-2", 11) == ["bad_password"] * 10 + ["throttled"]


def test_it_never_locks_a_charger_out_from_its_own_address(door):
    register_charger("CP-3", password=KEY)
    assert knock(door, "CP-3", KEY, "198.51.100.3")  # the charger's own address, as last accepted

    for attacker in ("203.0.113.10", "203.0.113.11", "203.0.113.12"):
        for n in range(10):
            knock(door, "CP-3", f"guess-{n}", attacker)

    assert not knock(door, "CP-3", KEY, "203.0.113.99"), "30 failures for CP-3: strangers wait"
    assert knock(door, "CP-3", KEY, "198.51.100.3"), "the charger itself still gets in"
    assert outcomes("CP-3", 33)[-2:] == ["throttled", "accepted"]


def test_it_slows_a_guesser_sharing_the_chargers_address_to_one_check_in_five_seconds(door):
    register_charger("CP-4", password=KEY)
    assert knock(door, "CP-4", KEY, "198.51.100.4")  # the charger's own address (say, a carrier NAT)

    guesses = [knock(door, "CP-4", f"guess-{n}", "198.51.100.4") for n in range(12)]
    time.sleep(OWN_ADDRESS_CHECKS.every_s)  # the guesser pauses for one interval

    assert not any(guesses)
    assert knock(door, "CP-4", KEY, "198.51.100.4"), "the charger gets the next check and is in"
    assert outcomes("CP-4", 14) == ["accepted"] + ["bad_password"] * 11 + ["throttled", "accepted"]


def test_it_spaces_checks_of_one_key():
    spacing = Spacing(every_s=5)

    assert spacing.allow("CP-1", now=100.0)
    assert not spacing.allow("CP-1", now=104.9)
    assert spacing.allow("CP-2", now=104.9)
    assert spacing.allow("CP-1", now=105.0)


def test_it_forgets_failures_after_the_window():
    window = FailureWindow(window_s=300)
    for second in range(3):
        window.failed("key", now=1000.0 + second)

    assert window.count("key", now=1100.0) == 3
    assert window.count("key", now=1301.5) == 1
    assert window.count("key", now=1400.0) == 0


@pytest.mark.parametrize(
    "path, recorded_as", [("", ""), ("%00", "\\x00"), ("CP%0D%0A1", "CP\r\n1"), ("x" * 49, "x" * 49)]
)
def test_it_refuses_odd_charger_paths_with_a_recorded_attempt(door, path, recorded_as):
    from stations.models import SiteConfiguration

    SiteConfiguration.objects.create(accept_unknown_chargers=True)  # even then, no such charger is made

    async def handshake():
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(door.ws_url + path, subprotocols=["ocpp1.6"], open_timeout=10):
                pass
        return refused.value.response.status_code

    assert asyncio.run(handshake()) == 403
    assert wait_until(lambda: ConnectionAttempt.objects.filter(charge_point_id=recorded_as).exists(), 10)
    assert not ConnectionAttempt.objects.filter(outcome="pending").exists()


def test_it_refuses_a_socket_to_any_other_path(door):
    async def handshake():
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(door.ws_url.replace("/ocpp/", "/elsewhere/"), open_timeout=10):
                pass
        return refused.value.response.status_code

    assert asyncio.run(handshake()) == 403
