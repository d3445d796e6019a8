import base64
import binascii

from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from stations import commands, services, writebehind
from stations.connection import ChargerConnection
from stations.orm import in_pool


def charger_group(charger_pk: int) -> str:
    """The channel-layer group that reaches the socket of one charger, in any process."""
    return f"cp.{charger_pk}"


def basic_auth_password(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The password of an HTTP Basic header (OCPP security profile 1), or None."""
    value = dict(headers).get(b"authorization", b"")
    scheme, _, encoded = value.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        _, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password


class OCPPConsumer(AsyncWebsocketConsumer):
    """One charger socket. Everything but the socket's life cycle is elsewhere."""

    connection: ChargerConnection | None = None

    async def connect(self):
        # daphne hands over the path already percent-decoded, so "CP%2F1" arrives as "CP/1".
        charge_point_id = self.scope["url_route"]["kwargs"]["charge_point_id"]
        client = self.scope.get("client") or ("", 0)
        # On the ORM pool: the password hash takes milliseconds (and releases the GIL).
        admission = await in_pool(services.admit_charger)(
            charge_point_id=charge_point_id, password=basic_auth_password(self.scope["headers"]),
            remote_address=client[0], offered=self.scope["subprotocols"],
        )
        if not admission.admitted:
            return await self.close()  # before accept: the handshake is refused with HTTP 403
        self.connection = ChargerConnection(admission.charger, self.send)
        self.group = charger_group(admission.charger.pk)
        await self.accept(services.choose_subprotocol(self.scope["subprotocols"]))
        await self._take_over(client[0])

    async def _take_over(self, remote_address: str):
        """Become the charger's only socket: an older one still open is closed."""
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_send(
            self.group, {"type": "ocpp.replaced", "connection_id": self.connection.connection_id}
        )
        await in_pool(self.connection.charger.mark_connected)(
            connection_id=self.connection.connection_id, ocpp_version=self.connection.ocpp_version,
            remote_address=remote_address,
        )

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            text_data = bytes_data.decode("utf-8", errors="replace")
        await self.connection.receive(text_data)
        if self.connection.seen_now_due():
            writebehind.note_seen(self.connection.charger.pk, timezone.now())

    async def disconnect(self, code):
        if self.connection is None:
            return
        self.connection.close()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await in_pool(self.connection.charger.mark_disconnected)(
            connection_id=self.connection.connection_id
        )
        await writebehind.flush()

    async def ocpp_replaced(self, event):
        if event["connection_id"] != self.connection.connection_id:
            await self.close(code=4000)  # the charger reconnected on a new socket

    async def ocpp_command(self, event):
        """A command from any process (stations.commands.send); never awaits the charger's answer here."""
        await commands.take(self.connection, self.channel_layer, event)
