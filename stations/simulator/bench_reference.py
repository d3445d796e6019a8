"""The benchmark's bare reference: the same `ocpp` library on plain `websockets`, no database.

It answers every charger→CSMS action of OCPP 1.6 and of 2.0.1 (the subprotocol the charger
offers decides, as at the CSMS) at once and stores nothing,
so it is the ceiling of what one Python process can do with this library:
the benchmark reports every figure of the CSMS as a ratio to it.
Schema validation runs inline here as in the CSMS, so the ratio measures
Django, Channels and the database, not a difference in library settings.

Run: python -m stations.simulator.bench_reference --port 9001
"""

import argparse
import asyncio
import itertools
import logging

import ocpp.messages
import websockets
from ocpp import v201
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from ocpp.v201.enums import Action as Action201

from stations.ocpp_time import utc_iso

_transaction_ids = itertools.count(1)


class ReferenceChargePoint(ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, **_):
        return call_result.BootNotification(current_time=utc_iso(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=utc_iso())

    @on(Action.status_notification)
    def on_status(self, **_):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_):
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, **_):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info={"status": "Accepted"}
        )

    @on(Action.meter_values)
    def on_meter_values(self, **_):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, **_):
        return call_result.StopTransaction()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_):
        return call_result.DataTransfer(status="Accepted")

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_):
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_):
        return call_result.DiagnosticsStatusNotification()


class ReferenceChargePoint201(v201.ChargePoint):
    """The same for OCPP 2.0.1: every charger→CSMS action the CSMS handles, answered at once."""

    @on(Action201.boot_notification)
    def on_boot(self, **_):
        return v201.call_result.BootNotification(current_time=utc_iso(), interval=300, status="Accepted")

    @on(Action201.heartbeat)
    def on_heartbeat(self):
        return v201.call_result.Heartbeat(current_time=utc_iso())

    @on(Action201.status_notification)
    def on_status(self, **_):
        return v201.call_result.StatusNotification()

    @on(Action201.authorize)
    def on_authorize(self, **_):
        return v201.call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action201.transaction_event)
    def on_transaction_event(self, id_token=None, **_):
        # As the CSMS: an idTokenInfo only for an event that carries an idToken.
        info = {"status": "Accepted"} if id_token else None
        return v201.call_result.TransactionEvent(id_token_info=info)

    @on(Action201.meter_values)
    def on_meter_values(self, **_):
        return v201.call_result.MeterValues()

    @on(Action201.notify_report)
    def on_notify_report(self, **_):
        return v201.call_result.NotifyReport()

    @on(Action201.notify_event)
    def on_notify_event(self, **_):
        return v201.call_result.NotifyEvent()

    @on(Action201.security_event_notification)
    def on_security_event(self, **_):
        return v201.call_result.SecurityEventNotification()

    @on(Action201.data_transfer)
    def on_data_transfer(self, **_):
        return v201.call_result.DataTransfer(status="Accepted")

    @on(Action201.firmware_status_notification)
    def on_firmware_status(self, **_):
        return v201.call_result.FirmwareStatusNotification()

    @on(Action201.log_status_notification)
    def on_log_status(self, **_):
        return v201.call_result.LogStatusNotification()


CHARGE_POINTS = {"ocpp1.6": ReferenceChargePoint, "ocpp2.0.1": ReferenceChargePoint201}


async def _serve_charger(websocket):
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    charge_point = CHARGE_POINTS[websocket.subprotocol]  # websockets refused the socket offering neither
    try:
        await charge_point(charge_point_id, websocket).start()
    except websockets.ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    async with websockets.serve(
        _serve_charger,
        host,
        port,
        subprotocols=list(CHARGE_POINTS),
        ping_interval=20,
        max_size=65536,
        backlog=4096,
    ):
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    ocpp.messages.ASYNC_VALIDATION = False
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
