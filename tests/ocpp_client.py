"""A charger for tests: the `ocpp` library's ChargePoint over a real WebSocket.

The library validates every message it sends and every answer it gets
against the official OCPP 1.6 JSON schemas, so a test that passes here has
spoken schema-valid OCPP both ways.
"""

import asyncio
import base64
import time
from contextlib import asynccontextmanager
from urllib.parse import quote

import websockets
from asgiref.sync import sync_to_async
from django.db import connections
from ocpp.v16 import ChargePoint, call

from stations.ocpp_time import utc_iso


def basic_auth(charge_point_id: str, password: str) -> dict:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@asynccontextmanager
async def raw_socket(ws_url: str, charge_point_id: str, password: str | None = None, subprotocols=("ocpp1.6",)):
    headers = basic_auth(charge_point_id, password) if password is not None else None
    async with websockets.connect(
        ws_url + quote(charge_point_id, safe=""), subprotocols=list(subprotocols),
        additional_headers=headers, open_timeout=10,
    ) as ws:
        yield ws


class TestCharger(ChargePoint):
    """A charger that answers nothing itself; tests drive it with `call`."""

    __test__ = False  # not a pytest test class

    async def send(self, payload, suppress=False):
        return await self.call(payload, suppress=suppress)

    async def boot(self, vendor="TestVendor", model="TestModel", **extra):
        return await self.send(call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, **extra))

    async def start_transaction(self, connector_id=1, id_tag="TAG1", meter_start=0, timestamp=None, **extra):
        return await self.send(call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
            timestamp=timestamp or utc_iso(), **extra,
        ))

    async def stop_transaction(self, transaction_id, meter_stop, timestamp=None, **extra):
        return await self.send(call.StopTransaction(
            transaction_id=transaction_id, meter_stop=meter_stop, timestamp=timestamp or utc_iso(), **extra,
        ))


@asynccontextmanager
async def connected_charger(ws_url: str, charge_point_id: str, password: str | None = None, cls=TestCharger):
    async with raw_socket(ws_url, charge_point_id, password) as ws:
        charger = cls(charge_point_id, ws, response_timeout=10)
        serving = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            serving.cancel()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll for an effect written by the server process (write-behind, another socket)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


async def orm(function, *args, **kwargs):
    """Run ORM code from inside a charger scenario, closing the thread's connection after.

    A connection left open in a worker thread would keep the test database
    from being dropped at the end of the run on PostgreSQL.
    """

    def closing():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(closing, thread_sensitive=False)()
