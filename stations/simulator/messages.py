"""What a simulated charger puts on the wire: its identity, timestamps, OCPP 1.6
request builders, and the queue that holds transaction messages while offline.

Requests are ``ocpp.v16.call`` dataclasses with snake_case fields (the ocpp
library camelCases them); they are schema-clean: no ``null`` fields, UTC 'Z'
timestamps. Everything here is pure apart from :func:`loop_time`.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ocpp.v16 import call
from ocpp.v16.enums import Action, ChargePointErrorCode, Measurand, ReadingContext, UnitOfMeasure

from stations.ocpp_time import utc_iso
from stations.simulator.ev_physics import MeterSample

VENDOR = "CSMS-Sim"
FIRMWARE_VERSION = "1.4.2-sim"
UPDATED_FIRMWARE_VERSION = "1.5.0-sim"

MAX_ID_TAG_LENGTH = 20  # OCPP 1.6 IdToken is CiString20Type

START = Action.start_transaction.value
METER_VALUES = Action.meter_values.value
STOP = Action.stop_transaction.value


# --------------------------------------------------------------------------
# Identities and clocks
# --------------------------------------------------------------------------


def charger_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index + 1:05d}"


def charger_url(base_url: str, charge_point_id: str) -> str:
    return base_url.rstrip("/") + "/" + quote(charge_point_id, safe="")


def connector_id_tag(charge_point_id: str, connector_id: int) -> str:
    """The idTag of a connector's own driver (FleetOptions.id_tag_per_connector)."""
    return f"{charge_point_id}-{connector_id}"


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def charger_rng(seed: int | None, index: int) -> random.Random:
    """Independent stream per charger; str seeds are hashed with SHA-512, so
    (seed, index) pairs do not overlap the way seed + index would."""
    return random.Random(f"{seed}/{index}") if seed is not None else random.Random()


def loop_time() -> float:
    """Monotonic seconds of the running event loop: deadlines, expiries, latencies."""
    return asyncio.get_running_loop().time()


def next_due(due: float, interval: float) -> float:
    """The next tick of a periodic message (heartbeat, meter values) on the charger's own clock.

    Counted from the previous tick, not from the CSMS's answer: timers restarted by
    the answer fall into step behind one slow reply and from then on all fire in
    the same second, a burst the fleet itself keeps re-creating. A tick already
    past (the answer took longer than the interval) is sent now, without a backlog.
    """
    return max(due + interval, loop_time())


# --------------------------------------------------------------------------
# OCPP request builders
# --------------------------------------------------------------------------


def sampled_values(sample: MeterSample, context: str) -> list[dict[str, str]]:
    def value(text: str, measurand: str, unit: str, location: str = "Outlet") -> dict[str, str]:
        return {"value": text, "context": context, "measurand": measurand, "location": location, "unit": unit}

    values = [
        value(str(sample.energy_wh), Measurand.energy_active_import_register, UnitOfMeasure.wh),
        value(f"{sample.power_w:.0f}", Measurand.power_active_import, UnitOfMeasure.w),
        value(f"{sample.current_a:.1f}", Measurand.current_import, UnitOfMeasure.a),
        value(f"{sample.voltage_v:.1f}", Measurand.voltage, UnitOfMeasure.v),
    ]
    if sample.soc is not None:  # floor: report 100 % only when really full
        values.append(value(str(int(sample.soc)), Measurand.soc, UnitOfMeasure.percent, "EV"))
    return values


def meter_value(sample: MeterSample, context: str) -> dict[str, Any]:
    return {"timestamp": sample.timestamp, "sampled_value": sampled_values(sample, context)}


def meter_values_request(
    connector_id: int,
    sample: MeterSample,
    transaction_id: int | None,
    context: str = ReadingContext.sample_periodic,
) -> call.MeterValues:
    return call.MeterValues(
        connector_id=connector_id, meter_value=[meter_value(sample, context)], transaction_id=transaction_id
    )


def stop_transaction_request(
    id_tag: str, reason: str, sample: MeterSample, transaction_id: int | None
) -> call.StopTransaction:
    return call.StopTransaction(
        meter_stop=sample.energy_wh,
        timestamp=sample.timestamp,
        transaction_id=transaction_id,
        reason=reason,
        id_tag=id_tag,
        transaction_data=[meter_value(sample, ReadingContext.transaction_end)],
    )


def status_notification_request(connector_id: int, status: str) -> call.StatusNotification:
    return call.StatusNotification(
        connector_id=connector_id,
        status=status,
        error_code=ChargePointErrorCode.no_error,
        timestamp=utc_iso(),
    )


# --------------------------------------------------------------------------
# Offline queue
# --------------------------------------------------------------------------


def call_label(request: Any) -> str:
    """What a CALL's latency and errors are counted under: its action, and a 2.0.1
    TransactionEvent's type too (its Updated events are what 1.6 sends as MeterValues)."""
    event_type = getattr(request, "event_type", None)
    action = type(request).__name__
    return f"{action} {event_type}" if event_type else action


@dataclass(slots=True)
class QueuedMessage:
    action: str  # the kind: START / METER_VALUES / STOP (a 2.0.1 TransactionEvent Started/Updated/Ended)
    build: Callable[[int | None], Any]  # transaction id -> ocpp.v16.call request
    session: Any  # owner with a .transaction_id, learned when its StartTransaction replays


class OfflineQueue:
    """Transaction messages produced while offline, replayed in order after the
    next boot (OCPP 1.6 section 4.8: transaction-related messages must reach the
    CSMS, in order).

    A 1.6 StartTransaction produced offline has no transactionId yet; requests are
    therefore built at replay time from ``session.transaction_id``, which the
    replayed StartTransaction's answer fills in for the messages behind it. (A 2.0.1
    charger names its transactions itself: its events are built when they happen.)
    """

    def __init__(self, limit: int = 200, on_drop: Callable[[str], None] | None = None):
        self.limit = limit  # bounds MeterValues; Start/Stop are few and always kept
        self._items: deque[QueuedMessage] = deque()
        self._on_drop = on_drop or (lambda action: None)

    def __len__(self) -> int:
        return len(self._items)

    def push(self, action: str, build: Callable[[int | None], Any], session: Any) -> bool:
        """Queue a message; False if it was dropped because the queue is full."""
        if action == METER_VALUES and len(self._items) >= self.limit:
            self._on_drop(action)
            return False
        self._items.append(QueuedMessage(action, build, session))
        return True

    async def replay(self, send: Callable[[Any], Awaitable[Any]]) -> int:
        """Send the queue oldest first through ``send(request) -> response | None``.

        If ``send`` raises (connection lost), the unsent message stays at the
        head for the next replay. Returns the number of messages sent.
        """
        sent = 0
        while self._items:
            item = self._items[0]
            transaction_id = item.session.transaction_id
            if item.action == STOP and transaction_id is None:
                self._items.popleft()  # its StartTransaction was refused: nothing to stop
                self._on_drop(item.action)
                continue
            response = await send(item.build(transaction_id))
            self._items.popleft()
            sent += 1
            if item.action == START and transaction_id is None and response is not None:
                item.session.transaction_id = response.transaction_id  # 1.6: the CSMS numbers it
        return sent
