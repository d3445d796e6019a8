"""The QR pay flow, unchanged, at an OCPP 2.0.1 charger: Dana pays from her wallet through the JSON
API, the server starts the charger with RequestStartTransaction (her payment's own idToken), the
charger's TransactionEvents build the session, her stop button sends RequestStopTransaction, and the
Ended settles it: the payment's rules, the ledger's invariant, money moved once."""

import asyncio
from decimal import Decimal

from django.utils import timezone
from ocpp.v201 import call

from billing import payments
from billing.models import Payment
from stations.models import Transaction
from stations.ocpp_time import utc_iso
from tests.billing.payments_kit import (
    assert_ledgers_balanced,
    balance_of,
    http,
    kinds_of,
    pay_site,
    state_becomes,
    token_for,
    wallet_with,
)
from tests.conftest import own_server
from tests.ocpp_client import AnsweringCharger201, connected_charger, eventually
from tests.personas import PASSWORDS, driver

paysrv201_process, paysrv201 = own_server("paysrv201", PAYMENT_SWEEP_SECONDS="1")


def energy(wh: int, context: str = "Sample.Periodic") -> list[dict]:
    sample = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}
    return [{"timestamp": utc_iso(), "sampled_value": [sample]}]


class ObedientCharger201(AnsweringCharger201):
    """Accepts RequestStartTransaction and starts a transaction with its idToken and remoteStartId;
    accepts RequestStopTransaction of that transaction and ends it. `meter_wh` is its register."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.meter_wh, self.seq_no, self.started = 1000, 0, None
        self.stopped = asyncio.Event()
        self._own: set[asyncio.Task] = set()

    async def route_message(self, raw_msg):
        calls_before = len(self.received)
        await super().route_message(raw_msg)
        if len(self.received) == calls_before:  # an answer to one of our own calls
            return
        action, payload = self.received[-1]
        if action == "RequestStartTransaction":
            self._later(self.begin(payload))
        if action == "RequestStopTransaction" and payload["transactionId"] == "tx-pay":
            self._later(self.end())

    def _later(self, work) -> None:
        task = asyncio.create_task(work)
        self._own.add(task)
        task.add_done_callback(self._own.discard)

    async def event(self, event_type, trigger_reason, **fields):
        info = {"transaction_id": "tx-pay", **fields.pop("info", {})}
        answer = await self.send(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=utc_iso(),
                trigger_reason=trigger_reason,
                seq_no=self.seq_no,
                transaction_info=info,
                **fields,
            )
        )
        self.seq_no += 1
        return answer

    async def begin(self, request: dict):
        self.started = await self.event(
            "Started",
            "RemoteStart",
            info={"remote_start_id": request["remoteStartId"]},
            evse={"id": request["evseId"], "connector_id": 1},
            id_token={"id_token": request["idToken"]["idToken"], "type": "Central"},
            meter_value=energy(self.meter_wh, "Transaction.Begin"),
        )

    async def meter(self, add_wh: int):
        self.meter_wh += add_wh
        await self.event("Updated", "MeterValuePeriodic", meter_value=energy(self.meter_wh))

    async def end(self):
        info = {"stopped_reason": "Remote"}
        await self.event(
            "Ended", "RemoteStop", info=info, meter_value=energy(self.meter_wh, "Transaction.End")
        )
        self.stopped.set()


def test_it_takes_dana_from_the_qr_code_to_her_receipt_at_a_201_charger(paysrv201):
    pay_site(connected=False)
    dana = driver()
    wallet_with(dana, "50.00")
    token = token_for(paysrv201.url, "+49 170 5550101", PASSWORDS["dana"])
    body = {"charger": "CP-PAY", "connector": 1, "amount": "20.00", "method": "wallet"}

    async def api(method, path, payload=None):
        return await asyncio.to_thread(http, method, paysrv201.url + path, payload, token)

    async def scenario():
        async with connected_charger(paysrv201.ws_url, "CP-PAY", cls=ObedientCharger201) as cp:
            await cp.send(
                call.BootNotification(charging_station={"model": "AC", "vendor_name": "V"}, reason="PowerUp")
            )
            status, created = await api("POST", "/api/v1/charging-sessions/", body)
            assert status == 201, created
            assert await eventually(lambda: cp.started is not None, timeout=15)
            assert await state_becomes(created["id"], "charging")
            await cp.meter(3000)
            status, _ = await api("POST", f"/api/v1/charging-sessions/{created['id']}/stop/")
            assert status == 200 and await eventually(cp.stopped.is_set, timeout=15)
            assert await state_becomes(created["id"], "settled")
            return cp, created

    cp, created = asyncio.run(scenario())

    assert cp.started.id_token_info == {"status": "Accepted"}
    [start] = cp.calls_of("RequestStartTransaction")
    assert start["idToken"]["type"] == "Central" and start["idToken"]["idToken"].startswith("PAY-")
    payment = Payment.objects.get(pk=created["id"])
    session = Transaction.objects.get(charger_transaction_id="tx-pay")
    assert payment.transaction == session and (session.meter_start, session.meter_stop) == (1000, 4000)
    cost = Decimal("2.62")  # (3 kWh × 0.40 + 1.00) × 1.19 = 2.618
    assert balance_of(dana) == Decimal("50.00") - cost
    assert [kind for kind, _ in kinds_of(dana)] == ["top_up", "hold", "release", "session_charge"]
    assert_ledgers_balanced()


def test_it_lets_a_driver_pay_at_an_occupied_201_connector_unless_someone_charges_there(db):
    charger = pay_site(status="Occupied")  # 2.0.1's word for a plugged-in car, charging or not yet
    Transaction.objects.create(
        charger=charger,
        charger_transaction_id="tx-other",
        connector_id=2,
        id_tag="SOMEONE",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
    )

    assert payments.connector_offer(charger=charger, connector_id=1).state == "preparing"
    assert payments.connector_offer(charger=charger, connector_id=1).usable
    assert payments.connector_offer(charger=charger, connector_id=2).state == "charging"
    assert not payments.connector_offer(charger=charger, connector_id=2).usable
