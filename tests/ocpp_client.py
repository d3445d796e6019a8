"""A charger for tests: the `ocpp` library's ChargePoint over a real WebSocket.

The library validates every message it sends and every answer it gets
against the official OCPP 1.6 JSON schemas, so a test that passes here has
spoken schema-valid OCPP both ways.
"""

import asyncio
import base64
import json
import time
from contextlib import asynccontextmanager
from urllib.parse import quote

import websockets
from asgiref.sync import sync_to_async
from django.db import connections
from ocpp import v201
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType, unpack, validate_payload
from ocpp.v16 import ChargePoint, call
from ocpp.v201 import ChargePoint as ChargePoint201

from stations.ocpp_time import utc_iso


def basic_auth(charge_point_id: str, password: str) -> dict:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@asynccontextmanager
async def raw_socket(
    ws_url: str, charge_point_id: str, password: str | None = None, subprotocols=("ocpp1.6",)
):
    headers = basic_auth(charge_point_id, password) if password is not None else None
    async with websockets.connect(
        ws_url + quote(charge_point_id, safe=""),
        subprotocols=list(subprotocols),
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        yield ws


class TestCharger(ChargePoint):
    """A charger that answers nothing itself; tests drive it with `call`."""

    __test__ = False  # not a pytest test class

    async def send(self, payload, suppress=False, unique_id=None):
        """`unique_id`: the message id to send it under (e.g. to find its rows in the message log)."""
        return await self.call(payload, suppress=suppress, unique_id=unique_id)

    async def boot(self, vendor="TestVendor", model="TestModel", **extra):
        return await self.send(
            call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, **extra)
        )

    async def start_transaction(self, connector_id=1, id_tag="TAG1", meter_start=0, timestamp=None, **extra):
        return await self.send(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp or utc_iso(),
                **extra,
            )
        )

    async def stop_transaction(self, transaction_id, meter_stop, timestamp=None, **extra):
        return await self.send(
            call.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp=timestamp or utc_iso(),
                **extra,
            )
        )


class TestCharger201(ChargePoint201):
    """An OCPP 2.0.1 charger that answers nothing itself; tests drive it with `send` (v201 `call`s),
    validated both ways against the official 2.0.1 schemas by the library."""

    __test__ = False

    async def send(self, payload, suppress=False, unique_id=None):
        return await self.call(payload, suppress=suppress, unique_id=unique_id)


@asynccontextmanager
async def connected_charger(
    ws_url: str, charge_point_id: str, password: str | None = None, cls=TestCharger, subprotocols=None
):
    """`cls` plays the charger, offering the subprotocol of its OCPP version unless told otherwise."""
    if subprotocols is None:
        subprotocols = (f"ocpp{cls._ocpp_version}",)
    async with raw_socket(ws_url, charge_point_id, password, subprotocols) as ws:
        charger = cls(charge_point_id, ws, response_timeout=10)
        serving = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            if isinstance(charger, AnsweringCharger):
                await charger.finish_answering()
            serving.cancel()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll for an effect written by the server process (write-behind, another socket)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


async def eventually(predicate, timeout: float = 5.0, interval: float = 0.02):
    """`wait_until` inside a charger scenario: polls a cheap, ORM-free predicate without blocking the loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


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


class AnsweringCharger(TestCharger):
    """A charger that answers the CSMS's calls: schema-checked both ways, recorded in `received`.

    Tests change `answers[action]` (the camelCase CALLRESULT payload), put an
    action in `silent` to never answer it, or in `call_errors` to answer a CALLERROR.
    `delays[action]` answers after that many seconds; `held[action]` (an asyncio.Event)
    answers only once the test sets it: late by construction, not by a guess of seconds.
    """

    DEFAULT_ANSWERS = {
        "RemoteStartTransaction": {"status": "Accepted"},
        "RemoteStopTransaction": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
        "ChangeAvailability": {"status": "Accepted"},
        "GetConfiguration": {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ],
        },
        "ChangeConfiguration": {"status": "Accepted"},
        "ClearCache": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
        "UpdateFirmware": {},
        "GetDiagnostics": {"fileName": "diagnostics.zip"},
        "SetChargingProfile": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"},
        "GetCompositeSchedule": {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-11-21T09:00:00.000Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
        "SendLocalList": {"status": "Accepted"},
        "GetLocalListVersion": {"listVersion": 3},
        "ReserveNow": {"status": "Accepted"},
        "CancelReservation": {"status": "Accepted"},
        "DataTransfer": {"status": "Accepted", "data": "pong"},
        # the security whitepaper's
        "CertificateSigned": {"status": "Accepted"},
        "InstallCertificate": {"status": "Accepted"},
        "GetInstalledCertificateIds": {
            "status": "Accepted",
            "certificateHashData": [
                {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "ab12",
                    "issuerKeyHash": "cd34",
                    "serialNumber": "01",
                }
            ],
        },
        "DeleteCertificate": {"status": "Accepted"},
        "ExtendedTriggerMessage": {"status": "Accepted"},
        "GetLog": {"status": "Accepted", "filename": "security.log"},
        "SignedUpdateFirmware": {"status": "Accepted"},
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers = {action: dict(answer) for action, answer in self.DEFAULT_ANSWERS.items()}
        self.received: list[tuple[str, dict]] = []
        self.silent: set[str] = set()
        self.call_errors: dict[str, Exception] = {}
        self.delays: dict[str, float] = {}  # seconds before answering, without blocking this charger
        self.held: dict[str, asyncio.Event] = {}  # answered once the test sets the event
        self._answering: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks
        self.in_flight = self.most_in_flight = 0
        self._being_answered = 0  # answers past their delay or hold whose frame is not yet sent

    async def finish_answering(self, timeout: float = 5.0):
        """Waits until every answer under way is on the wire, so a scenario that ends as soon as a call
        arrived does not close the socket while its answer is still being validated in the
        library's executor thread (the CSMS would then never see the charger's answer)."""
        await eventually(lambda: self._being_answered == 0, timeout=timeout)

    async def route_message(self, raw_msg):
        message = unpack(raw_msg)
        if message.message_type_id != MessageType.Call:
            return await super().route_message(raw_msg)
        try:
            await validate_payload(message, self._ocpp_version)  # what a strict charger does first
        except OCPPError as invalid:
            return await self._send(message.create_call_error(invalid).to_json())
        self.received.append((message.action, json.loads(raw_msg)[3]))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if message.action in self.delays or message.action in self.held:
            answering = asyncio.create_task(
                self._answer(message, self.delays.get(message.action, 0), self.held.get(message.action))
            )
            self._answering.add(answering)
            answering.add_done_callback(self._answering.discard)
        else:
            await self._answer(message)

    async def _answer(self, message, delay: float = 0, release: asyncio.Event | None = None):
        await asyncio.sleep(delay)
        if release is not None:
            await release.wait()
        if message.action in self.silent:
            return
        self.in_flight -= 1
        self._being_answered += 1
        try:
            await self._send(await self._answer_frame(message))
        finally:
            self._being_answered -= 1

    async def _answer_frame(self, message) -> str:
        if message.action in self.call_errors:
            return message.create_call_error(self.call_errors[message.action]).to_json()
        result = message.create_call_result(self.answers[message.action])
        await validate_payload(result, self._ocpp_version)
        return result.to_json()

    def calls_of(self, action: str) -> list[dict]:
        return [payload for received_action, payload in self.received if received_action == action]


class AnsweringCharger201(AnsweringCharger):
    """AnsweringCharger as an OCPP 2.0.1 charger: 2.0.1 schemas both ways, 2.0.1 answers."""

    _call, _call_result, _ocpp_version = v201.call, v201.call_result, "2.0.1"

    DEFAULT_ANSWERS = {
        "RequestStartTransaction": {"status": "Accepted"},
        "RequestStopTransaction": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
        "ChangeAvailability": {"status": "Accepted"},
        "GetVariables": {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        "SetVariables": {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        "GetBaseReport": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
        "SetChargingProfile": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"},
        "GetCompositeSchedule": {"status": "Accepted"},
        "GetChargingProfiles": {"status": "NoProfiles"},
        "ClearCache": {"status": "Accepted"},
        "SendLocalList": {"status": "Accepted"},
        "GetLocalListVersion": {"versionNumber": 3},
        "ReserveNow": {"status": "Accepted"},
        "CancelReservation": {"status": "Accepted"},
        "UpdateFirmware": {"status": "Accepted"},
        "GetLog": {"status": "Accepted", "filename": "log.zip"},
        "DataTransfer": {"status": "Accepted", "data": "pong"},
    }
