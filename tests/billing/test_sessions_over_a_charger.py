"""A driver's session as a real charger reports it: start, meter values, stop — and a replayed stop.

The server here writes meter values only every ten minutes, so the price of a session can
only come out right if the stop stores the charger's samples before it prices them: a
time-of-use window makes the price depend on when the energy was metered.
"""

import asyncio
from datetime import time
from decimal import Decimal

from ocpp.v16 import call

from billing.models import LedgerEntry, SessionCharge
from tests.billing.builders import (
    balance,
    charger,
    default_tariff,
    driver,
    peak_window,
    personal_card,
    prepaid_card,
)
from tests.conftest import own_server
from tests.ocpp_client import connected_charger

START, MIDDLE, STOP = "2027-03-01T09:00:00Z", "2027-03-01T09:30:00Z", "2027-03-01T10:00:00Z"
WRITE_BEHIND_MS = "600000"  # ten minutes: within a test, only the stop's own flush writes the samples


csms_process, csms = own_server("csms", OCPP_WRITE_BEHIND_MS=WRITE_BEHIND_MS)


def energy(timestamp, wh):
    return {
        "timestamp": timestamp,
        "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
    }


def charge_and_stop_twice(csms, id_tag):
    """Charge 1000 → 11000 Wh in the first half hour, → 13000 Wh in the second, then stop;
    the charger resends the stop after a reconnect."""
    charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            started = await cp.start_transaction(id_tag=id_tag, meter_start=1000, timestamp=START)
            await cp.send(
                call.MeterValues(
                    connector_id=1, transaction_id=started.transaction_id, meter_value=[energy(MIDDLE, 11000)]
                )
            )
            stop = {"meter_stop": 13000, "timestamp": STOP, "id_tag": id_tag, "reason": "EVDisconnected"}
            first = await cp.stop_transaction(started.transaction_id, **stop)
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            again = await cp.stop_transaction(started.transaction_id, **stop)
        return started, first, again

    return asyncio.run(scenario())


def test_it_deducts_a_prepaid_session_once_at_the_end(csms):
    tariff = default_tariff(price_per_kwh=Decimal("0.3500"), session_fee=Decimal("1.0000"))
    peak_window(tariff, start=time(9, 30), end=time(21), price_per_kwh="0.5000")
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())

    started, first, again = charge_and_stop_twice(csms, "DANA-1")

    assert started.id_tag_info == {"status": "Accepted"}
    assert first.id_tag_info == again.id_tag_info == {"status": "Accepted"}
    charge = SessionCharge.objects.get(transaction_id=started.transaction_id)
    # 10 kWh × 0.35 before 09:30, 2 kWh × 0.50 after, + 1.00 (without the sample: 6 × 0.35 + 6 × 0.50 + 1.00)
    assert charge.energy_wh == 12_000 and charge.total == Decimal("5.50")
    assert balance(card) == Decimal("14.50")
    entry = LedgerEntry.objects.get(kind="session_charge")  # the resent stop moved no money
    assert (entry.amount, entry.source, entry.card_id) == (Decimal("-5.50"), "ocpp:CP-1", card.pk)


def test_it_charges_a_personal_card_nothing(csms):
    default_tariff(price_per_kwh=Decimal("0.3500"))
    personal_card("HOME-1", owner=driver())

    started, first, again = charge_and_stop_twice(csms, "HOME-1")

    charge = SessionCharge.objects.get(transaction_id=started.transaction_id)
    assert charge.free and charge.charged == 0
    assert not LedgerEntry.objects.exists()
