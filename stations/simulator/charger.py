"""One simulated OCPP 1.6J charge point: :class:`SimulatedCharger`.

Per charger: one connection task (connect, boot, heartbeat, reconnect with
jittered back-off), one receive task while connected (the ``ocpp``
ChargePoint, :class:`~stations.simulator.charge_point.SimChargePoint`), and one task
per connector that runs sessions; no threads. State survives reconnects;
transaction messages produced while offline are replayed after the next boot.

The class is assembled from three parts:

* here: lifecycle, connection, boot, heartbeat and sending CALLs;
* :class:`~stations.simulator.sessions.SessionRunner`: charging sessions;
* :class:`~stations.simulator.reactions.CommandReactions`: answers to CSMS commands.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

import websockets
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType
from ocpp.v16 import call
from ocpp.v16.enums import ChargePointStatus, FirmwareStatus, RegistrationStatus
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from stations.simulator.ev_physics import CHARGER_POWER_W, INITIAL_REGISTER_WH
from stations.simulator.charge_point import SimChargePoint
from stations.simulator.reactions import CommandReactions, WEBSOCKET_PING_INTERVAL_S
from stations.simulator.messages import (
    FIRMWARE_VERSION,
    STOP,
    VENDOR,
    OfflineQueue,
    basic_auth_header,
    charger_id,
    charger_rng,
    charger_url,
    loop_time,
    next_due,
    status_notification_request,
)
from stations.simulator.sessions import Connector, Session, SessionRunner

if TYPE_CHECKING:
    from stations.simulator.fleet import FleetOptions, FleetStats

LOGGER = logging.getLogger(__name__)

OCPP_SUBPROTOCOL = "ocpp1.6"
DEFAULT_HEARTBEAT_S = 300  # when BootNotification answers interval 0
BOOT_RETRY_DEFAULT_S = 30  # when Pending/Rejected come with interval 0
REBOOT_DELAY_S = (2.0, 5.0)  # a reset charger is back after its boot time, not after back-off
WEBSOCKET_CLOSE_TIMEOUT_S = 5


def backoff_delay(attempt: int, rng: random.Random, *, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds before reconnect attempt ``attempt`` (0 = first retry after a drop).

    Exponential (base * 2^attempt) capped at ``cap``, with "equal jitter": a
    random point in the upper half of that window, so a fleet that dropped
    together does not reconnect in lock-step, yet nobody retries instantly.
    """
    window = min(cap, base * 2 ** min(attempt, 32))
    return window / 2 + rng.uniform(0, window / 2)


async def cancel_and_wait(tasks: Sequence[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LinkDown(Exception):
    """The connection closed (or the CSMS stopped answering) before an answer came."""


class Link:
    """One open WebSocket: its ChargePoint, the task reading from it, and
    whether the CSMS accepted our BootNotification on it."""

    __slots__ = ("ws", "cp", "receiver", "accepted", "boot_requested")

    def __init__(self, ws: Any, cp: SimChargePoint):
        self.ws = ws
        self.cp = cp
        self.receiver = asyncio.create_task(cp.start())  # ends when the socket closes
        self.accepted = False
        self.boot_requested = asyncio.Event()  # TriggerMessage(BootNotification) while Pending

    @property
    def is_open(self) -> bool:
        return not self.receiver.done()

    async def closed_within(self, seconds: float) -> bool:
        done, _ = await asyncio.wait({self.receiver}, timeout=seconds)
        return bool(done)

    async def close(self) -> None:
        await self.ws.close()

    async def dispose(self) -> None:
        await self.ws.close()
        self.receiver.cancel()
        await asyncio.gather(self.receiver, return_exceptions=True)


class SimulatedCharger(SessionRunner, CommandReactions):
    """One simulated charge point. State survives reconnects; each connection
    gets a fresh :class:`SimChargePoint` whose handlers act on this object."""

    __slots__ = (
        "id", "index", "options", "stats", "rng", "max_power_w", "phases", "connectors",
        "heartbeat_interval", "meter_interval", "queue", "link", "accepted_once",
        "firmware_version", "firmware_status", "available", "limit_w", "local_list_version",
        "config_overrides", "_tasks", "_rebooting", "_has_connected",
    )

    def __init__(self, index: int, options: FleetOptions, stats: FleetStats):
        self.id = charger_id(options.id_prefix, index)
        self.index = index
        self.options = options
        self.stats = stats
        self.rng = charger_rng(options.seed, index)
        self.max_power_w = self.rng.choice(CHARGER_POWER_W)
        self.phases = 1 if self.max_power_w <= 7_400 else 3
        self.connectors = [self._new_connector(number) for number in range(1, options.connectors + 1)]
        self.heartbeat_interval = options.heartbeat_interval  # None until the CSMS tells us
        self.meter_interval = options.meter_interval
        self.queue = OfflineQueue(options.offline_queue_limit, on_drop=self._count_drop)
        self.link: Link | None = None
        self.accepted_once = asyncio.Event()
        self.firmware_version = FIRMWARE_VERSION
        self.firmware_status = FirmwareStatus.idle
        self.available = True  # ChangeAvailability on connector 0
        self.limit_w: float | None = None  # SetChargingProfile on connector 0
        self.local_list_version = 0
        self.config_overrides: dict[str, str] | None = None  # created on first ChangeConfiguration
        self._tasks: set[asyncio.Task] = set()
        self._rebooting = False  # between an accepted Reset and the next accepted boot
        self._has_connected = False

    def _new_connector(self, number: int) -> Connector:
        return Connector(connector_id=number,
                         register_wh=self.rng.uniform(*INITIAL_REGISTER_WH),
                         runs_sessions=self.rng.random() < self.options.charging_share)

    def _count_drop(self, action: str) -> None:
        self.stats.dropped_messages += 1

    # ---- lifecycle ------------------------------------------------------

    async def run(self) -> None:
        """Start somewhere within the ramp-up window, then live until cancelled."""
        await asyncio.sleep(self.rng.uniform(0, self.options.chargers / self.options.ramp_up))
        for connector in self.connectors:
            if connector.runs_sessions:
                self.spawn(self._session_loop(connector))
        try:
            await self._connection_loop()
        except Exception:
            self.stats.crashes += 1
            LOGGER.exception("%s: simulator error, charger stopped", self.id)
        finally:
            await cancel_and_wait(list(self._tasks))

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        """Background work of this charger; cancelled with it, failures are logged."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_finished)
        return task

    def _task_finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.crashes += 1
            LOGGER.error("%s: simulator task failed", self.id, exc_info=task.exception())

    # ---- connection: connect, boot, heartbeat, reconnect ----------------

    async def _connection_loop(self) -> None:
        failures = 0  # connection attempts without an accepted boot since the last good one
        while True:
            ws = await self._open_websocket()
            booted = ws is not None and await self._serve(ws)
            if ws is not None:
                self.stats.disconnects += 1
            failures = 0 if booted else failures + 1
            await asyncio.sleep(self._reconnect_delay(failures))

    def _reconnect_delay(self, failures: int) -> float:
        if self._rebooting and failures == 0:  # the Reset closed a good connection
            return self.rng.uniform(*REBOOT_DELAY_S)
        return backoff_delay(failures, self.rng, cap=self.options.max_backoff)

    async def _open_websocket(self) -> Any | None:
        """Connect; None (counted) when the CSMS refuses or cannot be reached."""
        try:
            ws = await websockets.connect(
                charger_url(self.options.url_for(self.index), self.id),
                subprotocols=[OCPP_SUBPROTOCOL],
                additional_headers=self._auth_headers(),
                compression=None,  # chargers rarely deflate; saves ~100 KB of zlib state per socket
                proxy=None,  # on-premise CSMS: never route through a system proxy
                open_timeout=self.options.response_timeout,
                ping_interval=WEBSOCKET_PING_INTERVAL_S,
                ping_timeout=self.options.response_timeout,
                close_timeout=WEBSOCKET_CLOSE_TIMEOUT_S,
            )
        except InvalidStatus as refused:  # e.g. 401 wrong password, 404 unknown charger
            self.stats.handshake_rejections[refused.response.status_code] += 1
            return None
        except (OSError, TimeoutError, InvalidHandshake):
            self.stats.connect_failures += 1
            return None
        self.stats.reconnects += self._has_connected
        self._has_connected = True
        return ws

    def _auth_headers(self) -> dict[str, str] | None:
        if self.options.password is None:
            return None
        return basic_auth_header(self.id, self.options.password)

    async def _serve(self, ws: Any) -> bool:
        """Run one connection until it closes; True if the CSMS accepted our boot."""
        link = Link(ws, SimChargePoint(self, ws))
        self.link = link
        self.stats.connection_opened()
        try:
            await self._boot(link)
            await self._announce_statuses()
            if self.options.offline_queue:
                await self.queue.replay(partial(self._replay_one, link))
            await self._heartbeat_until_closed(link)
        except LinkDown:
            pass
        finally:
            self.link = None
            self.stats.connected -= 1
            await link.dispose()
        return link.accepted

    async def _boot(self, link: Link) -> None:
        """BootNotification until Accepted, retrying at the interval the CSMS gives."""
        while True:
            response = await self._call(link, self._boot_request())
            if response is not None:
                self.stats.boots[response.status] += 1
                if response.status == RegistrationStatus.accepted:
                    self._accepted(link, response.interval)
                    return
            if link.accepted:  # a triggered boot was accepted meanwhile
                return
            interval = response.interval if response is not None else 0
            await self._wait_before_boot_retry(link, interval if interval > 0 else BOOT_RETRY_DEFAULT_S)

    def _boot_request(self) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=VENDOR,
            charge_point_model=f"SimBox AC{self.max_power_w // 1000}",
            charge_point_serial_number=f"SIMSN{self.index + 1:08d}",
            firmware_version=self.firmware_version,
            meter_type="SimMeter",
        )

    def _accepted(self, link: Link, interval: int) -> None:
        link.accepted = True
        self._rebooting = False
        if self.options.heartbeat_interval is None:
            self.heartbeat_interval = interval if interval > 0 else DEFAULT_HEARTBEAT_S
        if not self.accepted_once.is_set():
            self.stats.chargers_accepted += 1
            self.accepted_once.set()

    async def _wait_before_boot_retry(self, link: Link, seconds: float) -> None:
        trigger = asyncio.ensure_future(link.boot_requested.wait())
        try:
            await asyncio.wait({link.receiver, trigger}, timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            trigger.cancel()
        link.boot_requested.clear()
        if not link.is_open:
            raise LinkDown()

    async def _announce_statuses(self) -> None:
        """After boot the CSMS learns every connector's state (OCPP 1.6 4.9)."""
        await self._call_if_online(status_notification_request(0, self._charger_status()))
        for connector in self.connectors:
            await self._notify_status(connector, connector.status, force=True)

    async def _replay_one(self, link: Link, request: Any) -> Any:
        response = await self._call(link, request)  # LinkDown stops the replay
        self.stats.replayed[type(request).__name__] += 1
        return response

    async def _heartbeat_until_closed(self, link: Link) -> None:
        # The first heartbeat lands at a random point of the interval, so a fleet
        # that booted within a few seconds does not heartbeat in the same second.
        due = loop_time() + self.rng.uniform(0.05, 1.0) * self._heartbeat_seconds()
        while not await link.closed_within(max(0.0, due - loop_time())):
            await self._call(link, call.Heartbeat())
            due = next_due(due, self._heartbeat_seconds())

    def _heartbeat_seconds(self) -> int:
        return self.heartbeat_interval or DEFAULT_HEARTBEAT_S

    # ---- sending CALLs ----------------------------------------------------

    async def _call(self, link: Link, request: Any) -> Any | None:
        """Send one CALL; the CALLRESULT payload, or None after a CALLERROR.

        Raises LinkDown when the connection closes first, or when the CSMS does
        not answer within response_timeout: then we drop the connection like
        real chargers do, and the transaction queue is replayed after the next boot.
        """
        action = type(request).__name__
        if not link.is_open:
            raise LinkDown()
        unique_id = str(uuid.uuid4())
        exchange = asyncio.ensure_future(link.cp.call(request, suppress=False, unique_id=unique_id))
        try:
            await asyncio.wait({exchange, link.receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            unfinished = not exchange.done()
            if unfinished:
                exchange.cancel()
            answer = link.cp.answers.pop(unique_id, None)
        if unfinished:
            raise LinkDown()
        if exchange.exception() is None:
            self.stats.record_latency(action, answer[0])
            return exchange.result()
        return await self._call_failed(link, action, exchange.exception(), answer)

    async def _call_failed(self, link: Link, action: str, error: BaseException,
                           answer: tuple[float, int] | None) -> None:
        if isinstance(error, TimeoutError):
            self.stats.timeouts[action] += 1
            await link.close()
            raise LinkDown() from error
        if isinstance(error, ConnectionClosed):
            raise LinkDown() from error
        if answer is not None and answer[1] == MessageType.CallError:
            self.stats.call_errors[action] += 1
            return None
        if answer is not None and isinstance(error, OCPPError):
            self.stats.invalid_results[action] += 1  # the CSMS's CALLRESULT broke the schema
            LOGGER.debug("%s: invalid %s CALLRESULT: %s", self.id, action, error)
            return None
        raise error  # our own request failed validation: a simulator bug, let it surface

    async def _call_if_online(self, request: Any, *, require_accepted: bool = True) -> Any | None:
        """For messages that are simply skipped while offline (status, heartbeat, ...)."""
        link = self.link
        if link is None or (require_accepted and not link.accepted):
            return None
        try:
            return await self._call(link, request)
        except LinkDown:
            return None

    async def _send_transaction_message(self, action: str, build: Callable[[int | None], Any],
                                        session: Session) -> Any | None:
        """Send StartTransaction/MeterValues/StopTransaction now, or queue it
        (behind anything already queued, to keep the order) for replay."""
        link = self.link
        if link is not None and link.accepted and not self.queue:
            if action == STOP and session.transaction_id is None:
                self._count_drop(action)  # StartTransaction got no id: nothing to stop
                return None
            try:
                return await self._call(link, build(session.transaction_id))
            except LinkDown:
                pass
        if self.options.offline_queue:
            self.queue.push(action, build, session)
        else:
            self._count_drop(action)
        return None

    async def _notify_status(self, connector: Connector, status: str, *, force: bool = False) -> None:
        if status == connector.status and not force:
            return
        connector.status = status  # remembered offline, announced after the next boot
        await self._call_if_online(status_notification_request(connector.connector_id, status))

    def _charger_status(self) -> str:
        return ChargePointStatus.available if self.available else ChargePointStatus.unavailable

    def _idle_status(self, connector: Connector) -> str:
        if not (self.available and connector.available):
            return ChargePointStatus.unavailable
        if self._reservation_of(connector) is not None:
            return ChargePointStatus.reserved
        return ChargePointStatus.available
