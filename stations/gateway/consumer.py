import base64
import binascii
import uuid

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.utils import timezone

from csms.proxies import CLIENT_CERTIFICATE_NAME
from stations import services
from stations.gateway import command_runner, live, mailbox, writebehind
from stations.gateway.connection import ChargerConnection
from stations.gateway.orm_pool import in_pool, in_session_lane


def basic_auth(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(user name, password) of an HTTP Basic header (OCPP security profile 1), or (None, None)."""
    value = dict(headers).get(b"authorization", b"")
    scheme, _, encoded = value.partition(b" ")
    if scheme.lower() != b"basic":
        return None, None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return username, password


class OCPPConsumer(AsyncWebsocketConsumer):
    """One charger socket. Everything but the socket's life cycle is elsewhere."""

    connection: ChargerConnection | None = None

    async def __call__(self, scope, receive, send):
        """Channels' consumer loop, lighter: ten thousand of these run at once on a large site.

        No channel of its own: commands and the replace notice come through
        the process's mailbox (stations.gateway.mailbox says why). And no
        `close_old_connections` before every message: Channels runs it on the
        process's one shared sync thread, so every frame of every charger
        would queue for that thread first. This consumer never touches that
        thread's connection: its ORM work runs on the OCPP pool, which looks
        after its own connections (stations.gateway.orm_pool).
        """
        self.scope, self.base_send, self.channel_layer = scope, send, None
        try:
            while True:
                message = await receive()
                await getattr(self, get_handler_name(message))(message)
        except StopConsumer:
            pass
        finally:
            # However the socket ended (a handler may have raised): the mailbox must not keep this consumer.
            if self.connection is not None:
                mailbox.close_box(self.connection.connection_id)

    async def connect(self):
        # daphne hands over the path already percent-decoded, so "CP%2F1" arrives as "CP/1".
        charge_point_id = self.scope["url_route"]["kwargs"]["charge_point_id"]
        client = self.scope.get("client") or ("", 0)
        connection_id = str(uuid.uuid4())
        address = await mailbox.address()
        # On the ORM pool: the password hash takes milliseconds (and releases the GIL).
        username, password = basic_auth(self.scope["headers"])
        admission = await in_session_lane(services.admit_charger)(
            charge_point_id=charge_point_id,
            username=username,
            password=password,
            remote_address=client[0],
            offered=self.scope["subprotocols"],
            connection_id=connection_id,
            channel_name=address,
            # wss:// by daphne's own TLS or by a trusted proxy's word (csms.proxies), which also names
            # the client certificate it verified: a charger's security profile may require either.
            secure=self.scope.get("scheme") == "wss",
            certificate_name=self.scope.get(CLIENT_CERTIFICATE_NAME),
        )
        writebehind.add_connection_attempt(admission.attempt)
        if not admission.admitted:
            return await self.close()  # before accept: the handshake is refused with HTTP 403
        version = services.ocpp_version(self.scope["subprotocols"])
        self.connection = ChargerConnection(
            admission.charger.for_socket(), self.send, connection_id=connection_id, ocpp_version=version
        )
        mailbox.open_box(connection_id, self.on_event)
        await self.accept(services.choose_subprotocol(self.scope["subprotocols"]))
        live.connected(self.connection.charger.pk)
        if admission.replaces:
            # The charger came back while its old socket still looked open: close that one.
            await mailbox.post(*admission.replaces, {"type": "ocpp.replaced"})

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            text_data = bytes_data.decode("utf-8", errors="replace")
        await self.connection.receive(text_data)
        if self.connection.seen_now_due():
            writebehind.note_seen(self.connection.charger.pk, timezone.now())

    async def websocket_disconnect(self, message):
        """Channels' own, without its groups and its `close_old_connections` (see __call__)."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        if self.connection is None:
            return
        self.connection.close()
        await in_pool(self.connection.charger.mark_disconnected)(connection_id=self.connection.connection_id)
        live.disconnected(self.connection.charger.pk)
        await writebehind.flush()

    async def on_event(self, event: dict) -> None:
        """An event from any process, through the mailbox (opened once the socket is accepted);
        runs beside the frames of this socket."""
        if event["type"] == "ocpp.replaced":
            await self.close(code=4000)  # the charger reconnected on a new socket
        elif event["type"] == "ocpp.silent":
            # Marked offline by stations.housekeeping: unheard for too long. Closed, so the charger's
            # next frame comes on a new socket, admitted and marked connected as usual.
            await self.close(code=4001)
        elif event["type"] == "ocpp.command":
            # Never awaits the charger's answer here: that answer arrives as a frame of this socket.
            await command_runner.take(self.connection, get_channel_layer(), event)


class NoSuchEndpoint(AsyncWebsocketConsumer):
    """A WebSocket to any path but /ocpp/<id>: refused at the handshake (HTTP 403), not a 500."""

    async def connect(self):
        await self.close()
