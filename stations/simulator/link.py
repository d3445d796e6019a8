"""How a simulated charger's messages reach the CSMS: :class:`Link`, one open
WebSocket, and :class:`Uplink`, the charger's sender: the current link (none
while offline), CALLs over it, and the queue that keeps transaction messages
produced while offline for replay after the next boot.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType
from websockets.exceptions import ConnectionClosed

from stations.simulator.charge_point import CallTiming
from stations.simulator.messages import STOP, OfflineQueue, call_label
from stations.simulator.options import FleetOptions
from stations.simulator.protocols import ChargerProtocol
from stations.simulator.state import Connector, Session
from stations.simulator.stats import FleetStats

LOGGER = logging.getLogger(__name__)


class LinkDown(Exception):
    """The connection closed (or the CSMS stopped answering) before an answer came."""


class Link:
    """One open WebSocket: its ChargePoint, the task reading from it, and
    whether the CSMS accepted our BootNotification on it."""

    __slots__ = ("ws", "cp", "receiver", "accepted", "boot_requested")

    def __init__(self, ws: Any, cp: CallTiming):
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


class Uplink:
    """One charger's way to the CSMS, in its ``protocol``. ``link`` is the open connection,
    None while offline; the charger's connection loop sets it. Counts what it sends in ``stats``."""

    __slots__ = ("charge_point_id", "options", "stats", "protocol", "link", "queue")

    def __init__(
        self, charge_point_id: str, options: FleetOptions, stats: FleetStats, protocol: ChargerProtocol
    ):
        self.charge_point_id = charge_point_id
        self.options = options
        self.stats = stats
        self.protocol = protocol
        self.link: Link | None = None
        self.queue = OfflineQueue(options.offline_queue_limit, on_drop=self.count_drop)

    def count_drop(self, action: str) -> None:
        self.stats.dropped_messages += 1

    async def call(self, link: Link, request: Any) -> Any | None:
        """Send one CALL; the CALLRESULT payload, or None after a CALLERROR.

        Raises LinkDown when the connection closes first, or when the CSMS does
        not answer within response_timeout: then we drop the connection like
        real chargers do, and the transaction queue is replayed after the next boot.
        """
        action = call_label(request)
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

    async def _call_failed(
        self, link: Link, action: str, error: BaseException, answer: tuple[float, int] | None
    ) -> None:
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
            LOGGER.debug("%s: invalid %s CALLRESULT: %s", self.charge_point_id, action, error)
            return None
        raise error  # our own request failed validation: a simulator bug, let it surface

    async def call_if_online(self, request: Any | None, *, require_accepted: bool = True) -> Any | None:
        """For messages that are simply skipped while offline (status, heartbeat, ...);
        None (a message the protocol does not have) is not sent."""
        link = self.link
        if request is None or link is None or (require_accepted and not link.accepted):
            return None
        try:
            return await self.call(link, request)
        except LinkDown:
            return None

    async def send_transaction_message(
        self, action: str, build: Callable[[int | None], Any], session: Session
    ) -> Any | None:
        """Send a transaction message (START, METER_VALUES, STOP) now, or queue it
        (behind anything already queued, to keep the order) for replay. One produced
        while offline, or lost with the link, is marked so where the protocol says it."""
        link = self.link
        online = link is not None and link.accepted
        if online and not self.queue:
            if action == STOP and session.transaction_id is None:
                self.count_drop(action)  # StartTransaction got no id: nothing to stop
                return None
            try:
                return await self.call(link, build(session.transaction_id))
            except LinkDown:
                online = False
        if self.options.offline_queue:
            self.queue.push(action, build if online else self.protocol.queued(build), session)
        else:
            self.count_drop(action)
        return None

    async def replay(self, link: Link) -> None:
        """After a boot: what was queued while offline, oldest first (LinkDown stops it)."""
        if self.options.offline_queue:
            await self.queue.replay(partial(self._replay_one, link))

    async def _replay_one(self, link: Link, request: Any) -> Any:
        response = await self.call(link, request)
        self.stats.replayed[type(request).__name__] += 1
        return response

    async def notify_status(self, connector: Connector, status: str, *, force: bool = False) -> None:
        """StatusNotification when the connector's status changes as the protocol reports it
        (2.0.1 has one Occupied for 1.6's Preparing, Charging and Finishing), or always, with force."""
        reported = self.protocol.reported_status
        changed = reported(status) != reported(connector.status)
        connector.status = status  # remembered offline, announced after the next boot
        if changed or force:
            await self.call_if_online(self.protocol.status(connector.connector_id, status))

    async def notify_charger_status(self, status: str, *, require_accepted: bool = True) -> None:
        """The charger as a whole (1.6's connector 0; 2.0.1 has no such StatusNotification)."""
        await self.call_if_online(self.protocol.status(0, status), require_accepted=require_accepted)
