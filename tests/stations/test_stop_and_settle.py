"""StopTransaction closes and bills a session in one go, over a real charger socket.

- The stop flushes the write-behind before it closes the session, so the price is made from
  every meter value the charger sent: the server here writes its batches only every ten
  minutes, so within a test nothing but the stop's own flush can store them, and a
  time-of-use tariff prices the energy by WHEN it was metered.
- A settlement that fails rolls the stop back with it, and the charger's resent stop bills
  the session, once: the failure is a real one of PostgreSQL, the wallet's row held locked by
  another transaction for longer than the server waits for it (lock_timeout).
"""

import asyncio
import threading
import urllib.parse
from datetime import time
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from ocpp.exceptions import InternalError
from ocpp.v16 import call

from billing.models import Account, LedgerEntry, SessionCharge
from stations.models import Transaction
from tests.billing.builders import balance, charger, default_tariff, driver, peak_window, prepaid_card
from tests.conftest import database_url, own_server
from tests.ocpp_client import connected_charger, orm

WRITE_BEHIND_MS = "600000"  # ten minutes: within a test, only a stop's own flush writes meter values
LOCK_TIMEOUT_MS = 1000  # how long the server's statements wait for a row lock before failing
ON_POSTGRESQL = connection.vendor == "postgresql"

# A Monday. 16:00-17:00 off-peak, 17:00-18:00 in the peak window (17:00-21:00).
START, PEAK_BEGINS, STOP = "2027-03-01T16:00:00Z", "2027-03-01T17:00:00Z", "2027-03-01T18:00:00Z"


def server_database_url() -> str:
    url = database_url(connection.settings_dict)
    if not ON_POSTGRESQL:
        return url
    return f"{url}?{urllib.parse.urlencode({'options': f'-c lock_timeout={LOCK_TIMEOUT_MS}'})}"


# The server of this module: batches only every ten minutes, lock waits of a second on PostgreSQL.
csms_process, csms = own_server(
    "csms", OCPP_WRITE_BEHIND_MS=WRITE_BEHIND_MS, DATABASE_URL=server_database_url
)


def energy(timestamp, wh):
    return {
        "timestamp": timestamp,
        "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
    }


def stop_of(id_tag):
    return {"meter_stop": 13_000, "timestamp": STOP, "id_tag": id_tag, "reason": "EVDisconnected"}


def test_it_stores_the_sessions_meter_values_before_it_prices_the_stop(csms):
    tariff = default_tariff(price_per_kwh=Decimal("0.3000"))
    peak_window(tariff, start=time(17), end=time(21), price_per_kwh="0.5000")
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            started = await cp.start_transaction(id_tag="DANA-1", meter_start=1_000, timestamp=START)
            # 10 kWh before the peak window opens, 2 kWh inside it: only this sample says so.
            await cp.send(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[energy(PEAK_BEGINS, 11_000)],
                )
            )
            stopped = await cp.stop_transaction(started.transaction_id, **stop_of("DANA-1"))
            return started, stopped

    started, stopped = asyncio.run(scenario())

    assert stopped.id_tag_info == {"status": "Accepted"}
    charge = SessionCharge.objects.get(transaction_id=started.transaction_id)
    # Priced without the sample, the 12 kWh would spread evenly over the two hours: 6 × 0.30 + 6 × 0.50.
    assert [(line["label"], line["quantity"], line["amount"]) for line in charge.breakdown] == [
        ("Energy", "10.000", "3.00"),
        ("Energy (Peak)", "2.000", "1.00"),
    ]
    assert (charge.energy_wh, charge.total, charge.charged) == (12_000, Decimal("4.00"), Decimal("4.00"))
    assert LedgerEntry.objects.get(kind="session_charge").amount == Decimal("-4.00")
    assert balance(card) == Decimal("16.00")


class WalletLock:
    """Another transaction holding the wallet's row lock (say, a slow staff correction) until released."""

    def __init__(self, account_pk: int):
        self.account_pk = account_pk
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(timeout=10), "the test could not lock the wallet"
        return self

    def __exit__(self, *exc_info):
        self.release.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the wallet lock was not released"

    def _hold(self):
        try:
            with transaction.atomic():
                Account.objects.select_for_update(nowait=True).get(pk=self.account_pk)
                self.locked.set()
                self.release.wait(timeout=60)
        finally:
            connections.close_all()


def session_state(transaction_id: int) -> tuple:
    session = Transaction.objects.get(pk=transaction_id)
    return (
        session.stopped_at,
        SessionCharge.objects.filter(transaction_id=transaction_id).count(),
        LedgerEntry.objects.filter(kind="session_charge").count(),
    )


@pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="a lock wait that gives up (lock_timeout) is PostgreSQL's; "
    "SQLite only has its 20 s busy timeout. CI (.ci/run) runs this on PostgreSQL.",
)
def test_it_rolls_back_a_stop_whose_settlement_failed_and_bills_the_resent_stop_once(csms):
    default_tariff(price_per_kwh=Decimal("0.3000"))
    card = prepaid_card("DANA-1", balance="20.00", owner=driver())
    charger("CP-1")

    async def scenario():
        async with connected_charger(csms.ws_url, "CP-1") as cp:
            started = await cp.start_transaction(id_tag="DANA-1", meter_start=1_000, timestamp=START)
            with WalletLock(card.account_id):
                with pytest.raises(InternalError):
                    await cp.stop_transaction(started.transaction_id, **stop_of("DANA-1"))
                after_failure = await orm(session_state, started.transaction_id)
            resent = await cp.stop_transaction(started.transaction_id, **stop_of("DANA-1"))
            resent_again = await cp.stop_transaction(started.transaction_id, **stop_of("DANA-1"))
            return started, after_failure, resent, resent_again

    started, after_failure, resent, resent_again = asyncio.run(scenario())

    assert after_failure == (None, 0, 0), "the failed stop left the session closed or billed"
    assert resent.id_tag_info == resent_again.id_tag_info == {"status": "Accepted"}
    session = Transaction.objects.get(pk=started.transaction_id)
    assert (session.meter_stop, session.stop_reason) == (13_000, "EVDisconnected")
    charge = SessionCharge.objects.get(transaction=session)
    assert (charge.energy_wh, charge.charged) == (12_000, Decimal("3.60"))  # 12 kWh × 0.30
    assert LedgerEntry.objects.get(kind="session_charge").amount == Decimal("-3.60")
    assert balance(card) == Decimal("16.40")
