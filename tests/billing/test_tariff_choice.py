"""Which tariff prices a real charger's session: the connector's own, else the charger's, else the default.

One charger has a tariff of its own and another one for its connector 2; a second charger
has a tariff only for its connector 2. Three sessions of 10 kWh, each priced differently.
"""

import asyncio
from decimal import Decimal

from billing.models import LedgerEntry, SessionCharge, Tariff, TariffAssignment
from tests.billing.builders import balance, charger, default_tariff, driver, prepaid_card
from tests.ocpp_client import connected_charger


def tariff(name: str, price_per_kwh: str) -> Tariff:
    return Tariff.objects.create(name=name, currency="EUR", price_per_kwh=Decimal(price_per_kwh))


def ten_kwh_session(csms, charge_point_id: str, connector_id: int, id_tag: str, hour: int) -> int:
    """One session of 10 kWh on that connector, started and stopped by the charger; its transaction id."""

    async def scenario():
        async with connected_charger(csms.ws_url, charge_point_id) as cp:
            started = await cp.start_transaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=5_000,
                timestamp=f"2027-03-01T{hour:02d}:00:00Z",
            )
            await cp.stop_transaction(
                started.transaction_id,
                meter_stop=15_000,
                id_tag=id_tag,
                timestamp=f"2027-03-01T{hour:02d}:45:00Z",
            )
            return started.transaction_id

    return asyncio.run(scenario())


def test_it_prices_with_the_connectors_tariff_then_the_chargers_then_the_default(csms):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    fast, premium = tariff("Fast", "0.4000"), tariff("Premium", "0.5500")
    cp1, cp2 = charger("CP-1"), charger("CP-2")
    TariffAssignment.objects.create(charger=cp1, tariff=fast)
    TariffAssignment.objects.create(charger=cp1, connector_id=2, tariff=premium)
    TariffAssignment.objects.create(charger=cp2, connector_id=2, tariff=premium)
    card = prepaid_card("DANA-1", balance="50.00", owner=driver())

    on_connector_tariff = ten_kwh_session(csms, "CP-1", 2, "DANA-1", hour=8)
    on_charger_tariff = ten_kwh_session(csms, "CP-1", 1, "DANA-1", hour=9)
    on_default = ten_kwh_session(csms, "CP-2", 1, "DANA-1", hour=10)  # CP-2's tariff is connector 2's only

    priced = {
        charge.transaction_id: (charge.tariff.name, charge.total, charge.charged)
        for charge in SessionCharge.objects.select_related("tariff")
    }
    assert priced == {
        on_connector_tariff: ("Premium", Decimal("5.50"), Decimal("5.50")),
        on_charger_tariff: ("Fast", Decimal("4.00"), Decimal("4.00")),
        on_default: ("Standard", Decimal("3.00"), Decimal("3.00")),
    }
    deducted = dict(LedgerEntry.objects.filter(kind="session_charge").values_list("transaction_id", "amount"))
    assert deducted == {
        on_connector_tariff: Decimal("-5.50"),
        on_charger_tariff: Decimal("-4.00"),
        on_default: Decimal("-3.00"),
    }
    assert balance(card) == Decimal("37.50")
