"""One simulated charge point, speaking OCPP 1.6J or 2.0.1: :class:`SimulatedCharger`.

Per charger: one connection task (connect, boot, heartbeat, reconnect with
jittered back-off), one receive task while connected (the ``ocpp``
ChargePoint, :class:`~stations.simulator.charge_point.SimChargePoint`), and one task
per connector that runs sessions; no threads. State survives reconnects;
transaction messages produced while offline are replayed after the next boot.

The charger is made of parts, each given what it needs:

* here: lifecycle, connection, boot and heartbeat;
* :class:`~stations.simulator.protocols.ChargerProtocol`: what each event is in its OCPP version;
* :class:`~stations.simulator.state.ChargerState`: connectors and settings, shared by the parts;
* :class:`~stations.simulator.link.Uplink`: sending CALLs, the offline queue;
* :class:`~stations.simulator.sessions.Sessions`: charging sessions;
* :class:`~stations.simulator.reactions.CommandReactions`: answers to CSMS commands;
* :class:`~stations.simulator.background.BackgroundTasks`: the work beside the connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import websockets
from ocpp.v16.enums import Reason, RegistrationStatus
from websockets.exceptions import InvalidHandshake, InvalidStatus

from stations.simulator.background import BackgroundTasks
from stations.simulator.charge_point import CallTiming
from stations.simulator.ev_physics import CHARGER_POWER_W, INITIAL_REGISTER_WH
from stations.simulator.link import Link, LinkDown, Uplink
from stations.simulator.messages import (
    basic_auth_header,
    charger_id,
    charger_rng,
    charger_url,
    loop_time,
    next_due,
)
from stations.simulator.options import FleetOptions
from stations.simulator.protocols import protocol_named
from stations.simulator.reactions import WEBSOCKET_PING_INTERVAL_S, CommandReactions
from stations.simulator.sessions import Sessions
from stations.simulator.state import DEFAULT_HEARTBEAT_S, POWER_UP, TRIGGERED, ChargerState, Connector
from stations.simulator.stats import FleetStats

LOGGER = logging.getLogger(__name__)

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


def new_state(charge_point_id: str, options: FleetOptions, rng: random.Random) -> ChargerState:
    """A charger of random rating whose connectors' meters start at random readings."""
    max_power_w = rng.choice(CHARGER_POWER_W)
    connectors = [
        Connector(
            connector_id=number,
            register_wh=rng.uniform(*INITIAL_REGISTER_WH),
            runs_sessions=rng.random() < options.charging_share,
        )
        for number in range(1, options.connectors + 1)
    ]
    return ChargerState(
        charge_point_id,
        max_power_w,
        phases=1 if max_power_w <= 7_400 else 3,
        connectors=connectors,
        heartbeat_interval=options.heartbeat_interval,
        meter_interval=options.meter_interval,
    )


class SimulatedCharger:
    """One simulated charge point. Its parts live as long as it does; each
    connection gets a fresh :class:`Link` and :class:`SimChargePoint`."""

    __slots__ = (
        "id",
        "index",
        "options",
        "protocol",
        "stats",
        "rng",
        "state",
        "accepted_once",
        "uplink",
        "tasks",
        "sessions",
        "reactions",
        "_has_connected",
    )

    def __init__(self, index: int, options: FleetOptions, stats: FleetStats):
        self.id = charger_id(options.id_prefix, index)
        self.index = index
        self.options = options
        self.protocol = protocol_named(options.protocol_for(index))
        self.stats = stats
        self.rng = charger_rng(options.seed, index)
        self.state = new_state(self.id, options, self.rng)
        self.accepted_once = asyncio.Event()
        self.uplink = Uplink(self.id, options, stats, self.protocol)
        self.tasks = BackgroundTasks(on_failure=self._task_failed)
        self.sessions = Sessions(self.state, self.uplink, options, self.rng, stats, self.accepted_once)
        self.reactions = CommandReactions(
            self.state,
            self.sessions,
            self.uplink,
            self.rng,
            spawn=self.tasks.spawn,
            boot_on_request=self.boot_on_request,
        )
        self._has_connected = False

    def charge_point(self, connection: Any) -> CallTiming:
        """The ocpp ChargePoint of one connection in the charger's protocol, answering with its reactions."""
        return self.protocol.charge_point(
            self.id, connection, self.reactions, self.stats, response_timeout=self.options.response_timeout
        )

    # ---- lifecycle ------------------------------------------------------

    async def run(self) -> None:
        """Start somewhere within the ramp-up window, then live until cancelled."""
        await asyncio.sleep(self.rng.uniform(0, self.options.chargers / self.options.ramp_up))
        for connector in self.state.connectors:
            if connector.runs_sessions:
                self.tasks.spawn(self.sessions.keep_busy(connector))
        try:
            await self._connection_loop()
        except Exception:
            self.stats.crashes += 1
            LOGGER.exception("%s: simulator error, charger stopped", self.id)
        finally:
            await self.tasks.cancel()

    def _task_failed(self, error: BaseException) -> None:
        self.stats.crashes += 1
        LOGGER.error("%s: simulator task failed", self.id, exc_info=error)

    def wind_down(self) -> None:
        """The run is ending, as when a site is switched off cleanly: no new
        sessions, and each open one ends with a StopTransaction."""
        self.state.rebooting = True
        self.sessions.stop(Reason.local)

    def sessions_open(self) -> bool:
        return self.sessions.any_open()

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
        if self.state.rebooting and failures == 0:  # the Reset closed a good connection
            return self.rng.uniform(*REBOOT_DELAY_S)
        return backoff_delay(failures, self.rng, cap=self.options.max_backoff)

    async def _open_websocket(self) -> Any | None:
        """Connect; None (counted) when the CSMS refuses or cannot be reached."""
        try:
            ws = await websockets.connect(
                charger_url(self.options.url_for(self.index), self.id),
                subprotocols=[self.protocol.subprotocol],
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
        link = Link(ws, self.charge_point(ws))
        self.uplink.link = link
        self.stats.connection_opened()
        try:
            await self._boot(link)
            await self._announce_statuses()
            await self.uplink.replay(link)
            await self._heartbeat_until_closed(link)
        except LinkDown:
            pass
        finally:
            self.uplink.link = None
            self.stats.connected -= 1
            await link.dispose()
        return link.accepted

    async def _boot(self, link: Link) -> None:
        """BootNotification until Accepted, retrying at the interval the CSMS gives."""
        while True:
            response = await self.uplink.call(link, self._boot_request(self.state.boot_reason))
            if response is not None:
                self.stats.boots[response.status] += 1
                if response.status == RegistrationStatus.accepted:
                    self._accepted(link, response.interval)
                    return
            if link.accepted:  # a triggered boot was accepted meanwhile
                return
            interval = response.interval if response is not None else 0
            await self._wait_before_boot_retry(link, interval if interval > 0 else BOOT_RETRY_DEFAULT_S)

    def _boot_request(self, reason: str) -> Any:
        return self.protocol.boot(
            model=f"SimBox AC{self.state.max_power_w // 1000}",
            serial_number=f"SIMSN{self.index + 1:08d}",
            firmware_version=self.state.firmware_version,
            reason=reason,
        )

    def _accepted(self, link: Link, interval: int) -> None:
        link.accepted = True
        self.state.rebooting = False
        self.state.boot_reason = POWER_UP  # a reconnect boots as the simulator's chargers always have
        if self.options.heartbeat_interval is None:
            self.state.heartbeat_interval = interval if interval > 0 else DEFAULT_HEARTBEAT_S
        if not self.accepted_once.is_set():
            self.stats.chargers_accepted += 1
            self.accepted_once.set()

    async def _wait_before_boot_retry(self, link: Link, seconds: float) -> None:
        trigger = asyncio.ensure_future(link.boot_requested.wait())
        try:
            await asyncio.wait({link.receiver, trigger}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            trigger.cancel()
        link.boot_requested.clear()
        if not link.is_open:
            raise LinkDown()

    async def boot_on_request(self) -> None:
        """TriggerMessage(BootNotification): while Pending, retry the boot at once;
        once accepted, one more BootNotification."""
        link = self.uplink.link
        if link is not None and not link.accepted:
            link.boot_requested.set()  # the boot loop retries right away
            return
        response = await self.uplink.call_if_online(self._boot_request(TRIGGERED))
        if response is not None:
            self.stats.boots[response.status] += 1

    async def _announce_statuses(self) -> None:
        """After boot the CSMS learns every connector's state (OCPP 1.6 4.9; 2.0.1 B01)."""
        await self.uplink.notify_charger_status(self.state.charger_status())
        for connector in self.state.connectors:
            await self.uplink.notify_status(connector, connector.status, force=True)

    async def _heartbeat_until_closed(self, link: Link) -> None:
        # The first heartbeat lands at a random point of the interval, so a fleet
        # that booted within a few seconds does not heartbeat in the same second.
        due = loop_time() + self.rng.uniform(0.05, 1.0) * self.state.heartbeat_seconds()
        while not await link.closed_within(max(0.0, due - loop_time())):
            await self.uplink.call(link, self.protocol.heartbeat())
            due = next_due(due, self.state.heartbeat_seconds())
