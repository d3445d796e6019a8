"""One channel-layer address per server process, not one per charger socket.

Channels gives every consumer a channel of its own and keeps a receive
waiting on it: three asyncio tasks and a queue per socket (about 10 KB), ten
thousand of them on a large site, for commands that come a few times a day.
Here each process receives on one channel and hands every event to the
socket it names by connection id (the Charger row holds both: see
Charger.mark_connected). stations.commands (the requester's side) and the
consumer (stations.gateway.consumer) are its users, and stations.gateway.live
receives the dashboards' watch lease on it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

Handler = Callable[[dict], Awaitable[None]]

_handlers: dict[str, Handler] = {}  # connection id -> the handler of that socket's consumer
# event type -> a plain function for events to the whole process, not to a socket (the dashboard's lease)
_process_handlers: dict[str, Callable[[dict], None]] = {}
_address: str = ""
_receiver: asyncio.Task | None = None
_running: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks
RETRY_AFTER_ERROR_S = 1.0


def open_box(connection_id: str, handler: Handler) -> None:
    """Deliver the events naming `connection_id` to `handler` from now on."""
    _handlers[connection_id] = handler


def close_box(connection_id: str) -> None:
    _handlers.pop(connection_id, None)


def on_process_event(event_type: str, handler: Callable[[dict], None]) -> None:
    """Hand events of `event_type` to `handler` (quick, no I/O) instead of to a socket."""
    _process_handlers[event_type] = handler


async def post(address: str, connection_id: str, event: dict) -> bool:
    """Send `event` to the socket `connection_id` held by the process at `address`.

    False when that process's mailbox is full: it has stopped reading it
    (crashed, or killed). Its chargers reconnecting elsewhere all notify it,
    and none of them may fail for that; events expire after the layer's expiry.
    """
    try:
        await get_channel_layer().send(address, {**event, "connection_id": connection_id})
    except ChannelFull:
        logger.warning("the mailbox %s is full: its server process is gone", address)
        return False
    return True


async def address() -> str:
    """This process's channel name, receiving on it from the first call on."""
    global _address, _receiver
    loop = asyncio.get_running_loop()
    if not _receiving_on(loop):
        layer = get_channel_layer()
        name = await layer.new_channel()
        if not _receiving_on(loop):  # no other socket started the receiver while we awaited
            _address, _receiver = name, loop.create_task(_receive_forever(layer, name))
    return _address


def current_address() -> str:
    """This process's address if it has one yet ("" before its first socket): what its liveness beat
    names (stations.housekeeping.beat_this_process), read from any thread."""
    return _address if _receiver is not None and not _receiver.done() else ""


def open_connection_ids() -> list[str]:
    """The sockets this process holds now, by connection id (a copy: read from the beat's thread)."""
    return list(_handlers.copy())


def _receiving_on(loop) -> bool:
    # A process has one event loop; tests start a new one per test, and a
    # receiver bound to a finished loop receives nothing.
    return _receiver is not None and not _receiver.done() and _receiver.get_loop() is loop


async def _receive_forever(layer, name: str) -> None:
    while True:
        try:
            event = await layer.receive(name)
        except Exception:  # e.g. Redis restarting: the sockets stay up, commands resume after it
            logger.exception("receiving on the process's channel failed")
            await asyncio.sleep(RETRY_AFTER_ERROR_S)
            continue
        _hand_over(event)


def _hand_over(event: dict) -> None:
    for_process = _process_handlers.get(event.get("type"))
    if for_process is not None:
        for_process(event)
        return
    handler = _handlers.get(event.get("connection_id", ""))
    if handler is None:
        # The socket closed since the sender read its address: the requester's wait says "offline".
        logger.info("event %s for a socket this process no longer holds", event.get("type"))
        return
    # Its own task: a slow handler must not hold up the events of other sockets.
    task = asyncio.create_task(_deliver(handler, event))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _deliver(handler: Handler, event: dict) -> None:
    try:
        await handler(event)
    except Exception:
        logger.exception("handling %s for socket %s failed", event.get("type"), event.get("connection_id"))
