import asyncio

import pytest

from stations.models import Charger, ConnectionAttempt, SiteConfiguration
from tests.ocpp_client import connected_charger, wait_until


def register(charge_point_id: str, password: str | None = None, **fields) -> Charger:
    charger = Charger(charge_point_id=charge_point_id, **fields)
    charger.set_password(password)
    charger.save()
    return charger


def test_it_accepts_a_registered_charger_and_stores_its_identity(csms):
    register("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            return await cp.boot(
                vendor="Alfen", model="Eve", charge_point_serial_number="SN1", charge_box_serial_number="BOX1",
                firmware_version="4.12", iccid="8931", imsi="2620", meter_type="ABB", meter_serial_number="M1",
            )

    answer = asyncio.run(scenario())

    assert answer.status == "Accepted"
    assert answer.interval == 120
    assert answer.current_time.endswith("Z")
    charger = Charger.objects.get(charge_point_id="CP-1")
    assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
        "Alfen", "Eve", "SN1", "4.12",
    )
    assert (charger.iccid, charger.imsi, charger.meter_type, charger.meter_serial_number) == ("8931", "2620", "ABB", "M1")
    assert charger.last_boot_at is not None
    assert ConnectionAttempt.objects.get(charge_point_id="CP-1").outcome == "accepted"
