"""A driver's session as a real charger reports it: start, meter values, stop — and a replayed stop."""

import asyncio
from decimal import Decimal

from ocpp.v16 import call

from billing.models import LedgerEntry, SessionCharge
from tests.billing.builders import balance, charger, default_tariff, driver, personal_card, prepaid_card
from tests.ocpp_client import connected_charger

START, MIDDLE, STOP = "2027-03-01T09:00:00Z", "2027-03-01T09:30:00Z", "2027-03-01T10:00:00Z"


def energy(timestamp, wh):
    return {"timestamp": timestamp, "sampledValue": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}


def charge_and_stop_twice(csms, id_tag):
    """Charge 1000 → 13000 Wh over an hour, then stop; the charger resends the stop after a reconnect."""
    charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            started = await cp.start_transaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=START)
            await cp.send(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=[energy(MIDDLE, 7000)]))
            stop = {"meter_stop": 13000, "timestamp": STOP, "id_tag": id_tag, "reason": "EVDisconnected"}
            first = await cp.stop_transaction(started.transaction_id, **stop)
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            again = await cp.stop_transaction(started.transaction_id, **stop)
        return started, first, again

    return asyncio.run(scenario())


def test_it_deducts_a_prepaid_session_once_at_the_end(csms):
    default_tariff(price_per_kwh=Decimal("0.3500"), session_fee=Decimal("1.0000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())

    started, first, again = charge_and_stop_twice(csms, "DANA-1")

    assert started.id_tag_info == {"status": "Accepted"}
    assert first.id_tag_info == again.id_tag_info == {"status": "Accepted"}
    charge = SessionCharge.objects.get(transaction_id=started.transaction_id)
    assert charge.energy_wh == 12_000 and charge.total == Decimal("5.20")  # 12 kWh × 0.35 + 1.00
    assert balance(card) == Decimal("14.80")
    entry = LedgerEntry.objects.get(kind="session_charge")
    assert (entry.amount, entry.source, entry.card_id) == (Decimal("-5.20"), "ocpp:CP-1", card.pk)


def test_it_charges_a_personal_card_nothing(csms):
    default_tariff(price_per_kwh=Decimal("0.3500"))
    personal_card("HOME-1", owner=driver())

    started, first, again = charge_and_stop_twice(csms, "HOME-1")

    charge = SessionCharge.objects.get(transaction_id=started.transaction_id)
    assert charge.free and charge.charged == 0
    assert not LedgerEntry.objects.exists()
