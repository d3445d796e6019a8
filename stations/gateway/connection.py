"""One charger's live OCPP-J connection: framing, the message log, calls both ways.

The `ocpp` library sends nothing back for a frame it cannot parse; OCPP-J
wants a CALLERROR whenever the message id can be read, so the framing is
checked here before the library sees a frame. The two versions name framing
errors differently (ocpp201_frame_error); everything else here is the same for both.
"""

import asyncio
import json
import logging
import re
import uuid

from autobahn.exception import Disconnected  # what daphne's socket raises once closed
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import FormatViolationError, NotImplementedError, OCPPError, ProtocolError
from ocpp.messages import Call, CallError, CallResult, MessageType, validate_payload

from stations.gateway import bounds, dispatch, ocpp16, ocpp201, writebehind
from stations.models import Charger

logger = logging.getLogger(__name__)

# Enough of a frame to answer it: [2,"<id>"... even when the rest is broken.
_MESSAGE_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')
MAX_MESSAGE_ID = 36  # OCPP-J: the unique id is at most 36 characters
LOGGED_TYPES = frozenset((MessageType.Call, MessageType.CallResult, MessageType.CallError))
# A frame that starts as a CALLRESULT or CALLERROR does, however broken: never answered.
_ANSWER = re.compile(r"^\s*\[\s*[34]\s*[,\]]")

# Per negotiated version: the handlers' class, and the routes of its @on handlers.
PROTOCOLS = {
    "1.6": (ocpp16.ChargePoint16, ocpp16.ROUTES),
    "2.0.1": (ocpp201.ChargePoint201, ocpp201.ROUTES),
}


class RpcFrameworkError(OCPPError):
    """OCPP-J 2.0.1: "Content of the call is not a valid RPC Request" (the ocpp library has no class)."""

    code = "RpcFrameworkError"


class MessageTypeNotSupportedError(OCPPError):
    """OCPP-J 2.0.1: "A message with a Message Type Number received that is not supported"."""

    code = "MessageTypeNotSupported"


class FrameError(Exception):
    """`kind` says what was wrong (json, structure, message_id, message_type, element_count, payload,
    oversized), so that each version can name it in its own words."""

    def __init__(self, error: OCPPError, message_id: str | None, kind: str = ""):
        super().__init__(str(error))
        self.error, self.message_id, self.kind = error, message_id, kind


def readable_message_id(raw: str) -> str | None:
    match = _MESSAGE_ID.match(raw[:200])
    return match.group(1) if match else None


def parse_frame(raw: str) -> Call | CallResult | CallError:
    """Turn a text frame into a message, or raise FrameError with the id to answer to."""
    try:
        frame = json.loads(raw)
    except ValueError:
        raise FrameError(
            FormatViolationError(description="Frame is not valid JSON"), readable_message_id(raw), "json"
        )
    except RecursionError:  # nested deeper than the interpreter's stack: no OCPP message is
        raise FrameError(
            FormatViolationError(description="Frame is nested too deeply"), readable_message_id(raw), "json"
        )
    if not isinstance(frame, list) or len(frame) < 3:
        raise FrameError(ProtocolError(description="Frame is not an OCPP-J message array"), None, "structure")
    message_type, message_id = frame[0], frame[1]
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID:
        raise FrameError(ProtocolError(description="Invalid message id"), None, "message_id")
    return _build_message(frame, message_type, message_id)


def _build_message(frame: list, message_type, message_id: str):
    # Never answer a broken CALLRESULT/CALLERROR: answering answers can loop forever.
    is_answer = message_type in (MessageType.CallResult, MessageType.CallError)
    reply_to = None if is_answer else message_id
    if message_type == MessageType.Call and len(frame) == 4 and isinstance(frame[2], str):
        if not isinstance(frame[3], dict):
            raise FrameError(
                FormatViolationError(description="Payload must be a JSON object"), message_id, "payload"
            )
        return Call(message_id, frame[2], frame[3])
    if message_type == MessageType.CallResult and len(frame) == 3:
        return CallResult(message_id, frame[2])
    if message_type == MessageType.CallError and len(frame) == 5:
        return CallError(message_id, frame[2], frame[3], frame[4])
    known_type = isinstance(message_type, int) and message_type in LOGGED_TYPES  # the three OCPP-J types
    kind = "element_count" if known_type else "message_type"
    raise FrameError(ProtocolError(description="Message type or element count is not OCPP-J"), reply_to, kind)


def ocpp201_frame_error(problem: FrameError, raw: str) -> FrameError:
    """The 1.6 answer to a broken frame, in OCPP-J 2.0.1's words (Part 4, §4.2.3 and §4.3).

    What is no RPC message at all (not JSON, not an array, no readable id, a CALL of the wrong length) is
    an RpcFrameworkError, answered to the message id "-1" when none can be read; an unknown message
    type number is MessageTypeNotSupported. A payload that is no object stays a FormatViolation, an
    oversized frame too. Whatever starts as an answer (CALLRESULT, CALLERROR) is still never answered.
    """
    if _ANSWER.match(raw[:20]):
        return FrameError(problem.error, None, problem.kind)
    message_id = problem.message_id or readable_message_id(raw) or "-1"
    if problem.kind in ("payload", "oversized"):
        return FrameError(problem.error, message_id, problem.kind)
    if problem.kind == "message_type":
        error = MessageTypeNotSupportedError(description=problem.error.description)
        return FrameError(error, problem.message_id, problem.kind)
    return FrameError(RpcFrameworkError(description=problem.error.description), message_id, problem.kind)


class ChargerConnection:
    """Owned by the consumer of one socket; `send_text` writes to that socket."""

    def __init__(
        self, charger: Charger, send_text, ocpp_version: str = "1.6", connection_id: str | None = None
    ):
        self.charger = charger
        self.connection_id = connection_id or str(uuid.uuid4())
        self.ocpp_version = ocpp_version
        self._send_text = send_text
        handler_class, self.routes = PROTOCOLS[ocpp_version]
        self.handler = handler_class(charger)
        self._pending: dict[str, asyncio.Future] = {}
        # OCPP allows one CSMS-initiated call in flight per charger.
        self._call_lock = asyncio.Lock()
        self.closed = False
        self._last_seen_written = timezone.now()

    async def send(self, text: str, logged: str | None = None) -> None:
        """Write a frame to the charger (answers and our own CALLs), logged first: as `logged` when
        given (the frame with a secret withheld: stations.security)."""
        self._log("out", logged or text, _summarise(logged or text))
        try:
            await self._send_text(text)
        except Disconnected:
            # The charger hung up while we answered it. Raising here would end the
            # consumer before it handles the disconnect, leaving the charger "connected".
            logger.info("%s left before its answer was sent", self.charger.charge_point_id)
            self.closed = True

    async def receive(self, raw: str) -> None:
        if len(raw.encode()) > settings.OCPP_MAX_FRAME_BYTES:
            self._log("in", raw, (None, readable_message_id(raw) or "", ""))  # not worth parsing
            return await self._refuse_oversized(raw)
        try:
            message = parse_frame(raw)
        except FrameError as problem:
            self._log("in", raw, _summarise(raw))
            return await self._answer_frame_error(problem, raw)
        # Parsed once: the log takes type, id and action from the message itself.
        self._log(
            "in", raw, (message.message_type_id, message.unique_id, getattr(message, "action", None) or "")
        )
        if isinstance(message, Call):
            await self._handle_call(message)
        else:
            self._resolve(message)

    async def _handle_call(self, message: Call) -> None:
        if message.action not in self.routes:
            # OCPP-J: NotImplemented is "requested Action is not known by receiver".
            error = NotImplementedError(description=f"Action {message.action!r} is not known here")
            return await self.send(message.create_call_error(error).to_json())
        try:
            reply = await dispatch.answer(self.handler, self.routes, message, self.ocpp_version)
        except OCPPError as error:
            reply = message.create_call_error(error).to_json()
        await self.send(reply)

    async def call(
        self, action: str, payload: dict, timeout: float, on_sent=None, logged_payload: dict | None = None
    ) -> CallResult | CallError:
        """Send a CALL and wait for the charger's answer.

        Raises asyncio.TimeoutError, or ConnectionError when the socket is or gets closed.
        `on_sent()` is called once the frame is written (after waiting for earlier calls).
        `logged_payload`: what the message log keeps instead of `payload` (a charger's key withheld).
        """
        message = Call(str(uuid.uuid4()), action, payload)
        await validate_payload(message, self.ocpp_version)
        async with self._call_lock:
            if self.closed:
                raise ConnectionError("the charger's socket closed before the call was sent")
            answer = asyncio.get_running_loop().create_future()
            self._pending[message.unique_id] = answer
            try:
                logged = None if logged_payload is None else Call(message.unique_id, action, logged_payload)
                await self.send(message.to_json(), logged=logged and logged.to_json())
                if on_sent:
                    on_sent()
                return await asyncio.wait_for(answer, timeout)
            finally:
                self._pending.pop(message.unique_id, None)

    def close(self) -> None:
        """The socket is gone: calls waiting for an answer fail now instead of at their timeout."""
        self.closed = True
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ConnectionError("the charger disconnected before answering"))

    def _resolve(self, message: CallResult | CallError) -> None:
        answer = self._pending.get(message.unique_id)
        if answer is None or answer.done():
            logger.warning(
                "%s answered unknown or late message id %s", self.charger.charge_point_id, message.unique_id
            )
            return
        answer.set_result(message)

    async def _refuse_oversized(self, raw: str) -> None:
        size, limit = len(raw.encode()), settings.OCPP_MAX_FRAME_BYTES
        logger.warning(
            "%s sent a %d-byte frame, over the %d-byte limit: refused",
            self.charger.charge_point_id,
            size,
            limit,
        )
        problem = FrameError(
            FormatViolationError(description=f"Frame exceeds {limit} bytes"),
            readable_message_id(raw),
            "oversized",
        )
        await self._answer_frame_error(problem, raw)

    async def _answer_frame_error(self, problem: FrameError, raw: str) -> None:
        logger.warning("%s sent a malformed frame (%s): %.200s", self.charger.charge_point_id, problem, raw)
        if self.ocpp_version == "2.0.1":
            problem = ocpp201_frame_error(problem, raw)
        if problem.message_id:
            error = CallError(problem.message_id, problem.error.code, problem.error.description, {})
            await self.send(error.to_json())

    def _log(self, direction: str, raw: str, summary: tuple[int | None, str, str]) -> None:
        message_type, message_id, action = summary
        message_type = message_type if message_type in LOGGED_TYPES else None  # -1 or 99999: no such type
        writebehind.log_frame(
            self.charger.charge_point_id,
            direction,
            message_type,
            bounds.text(message_id[:64]),
            bounds.text(action[:50]),
            bounds.text(raw),
            timezone.now(),
        )

    def seen_now_due(self) -> bool:
        """Whether 'last seen' is stale enough to write; saves an UPDATE per frame."""
        now = timezone.now()
        if (now - self._last_seen_written).total_seconds() < settings.OCPP_LAST_SEEN_RESOLUTION:
            return False
        self._last_seen_written = now
        return True


def _summarise(raw: str) -> tuple[int | None, str, str]:
    """Type, id and action of a frame for the log, without failing on garbage."""
    try:
        frame = json.loads(raw)
        message_type, message_id = int(frame[0]), str(frame[1])[:64]
        action = frame[2] if message_type == MessageType.Call and isinstance(frame[2], str) else ""
        return message_type, message_id, action[:50]
    except (ValueError, TypeError, IndexError, KeyError, RecursionError, OverflowError):
        return None, readable_message_id(raw) or "", ""
