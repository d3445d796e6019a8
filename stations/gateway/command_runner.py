"""The socket's side of commands: run a command's CALL on the charger's socket, store its outcome.

The requester's side is stations.commands; a command arrives here through
the process's mailbox (stations.gateway.mailbox) in the process holding the
charger's socket.
"""

import asyncio
import logging

from cryptography.fernet import InvalidToken
from django.utils import timezone
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError

from stations import outcomes, security
from stations.gateway.orm_pool import in_pool
from stations.models import Command
from stations.outcomes import Outcome

logger = logging.getLogger(__name__)

_running: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks


async def take(connection, channel_layer, event: dict) -> None:
    """Acknowledge at once and run the call as its own task: the consumer keeps reading frames,
    among them the very answer the call waits for."""
    await channel_layer.send(event["reply_to"], {"type": "command.ack"})
    task = asyncio.create_task(_run(connection, channel_layer, event))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _run(connection, channel_layer, event: dict) -> None:
    try:
        command = await in_pool(Command.objects.select_related("charger").get)(pk=event["command_id"])
        if not await in_pool(command.claim)(connection_id=connection.connection_id):
            return  # another socket of this charger took it, or the requester gave up
        outcome = await _call(connection, command, event["timeout"], event.get("sealed") or {})
        await in_pool(outcomes.settle)(command=command, outcome=outcome)
        await channel_layer.send(event["reply_to"], {"type": "command.done", "status": command.status})
    except Exception:
        logger.exception(
            "command %s to %s failed", event.get("command_id"), connection.charger.charge_point_id
        )


async def _call(connection, command: Command, timeout: float, sealed: dict) -> Outcome:
    """The CALL and its outcome. `sealed`: fields withheld from the stored payload (a charger's new key),
    put back for the charger only; the message log gets the stored payload."""
    sent = {}

    def note_sent():
        sent["at"] = timezone.now()

    try:
        payload = security.restore_key(command.payload, sealed)
    except InvalidToken:
        return Outcome.call_error(
            "InternalError", "not sent: the key could not be unsealed (SECRET_KEY differs)", None
        )
    try:
        # Waiting behind an earlier call counts against the timeout too.
        answer = await asyncio.wait_for(
            connection.call(command.action, payload, timeout, note_sent, logged_payload=command.payload),
            timeout,
        )
    except TimeoutError:
        return Outcome.timed_out(timeout, sent.get("at"))
    except ConnectionError as closed:
        return Outcome.offline(str(closed), sent.get("at"))
    except OCPPError as invalid:  # the library's own schema check refused to send it
        return Outcome.call_error(invalid.code, invalid.description, invalid.details)
    if isinstance(answer, CallError):
        return Outcome.call_error(
            answer.error_code, answer.error_description, answer.error_details, sent.get("at")
        )
    return Outcome.answered(answer.payload, sent.get("at"))
