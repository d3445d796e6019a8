"""The benchmark's bare reference: the same `ocpp` library on plain `websockets`, no database.

It answers every charger→CSMS action of OCPP 1.6 at once and stores nothing,
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
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

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


async def _serve_charger(websocket):
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    try:
        await ReferenceChargePoint(charge_point_id, websocket).start()
    except websockets.ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    async with websockets.serve(
        _serve_charger,
        host,
        port,
        subprotocols=["ocpp1.6"],
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
