"""HTTP and WebSocket entry point, served by daphne."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django_http = get_asgi_application()

import autobahn.websocket.protocol as autobahn_protocol  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from daphne.ws_protocol import WebSocketProtocol  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from stations.routing import websocket_urlpatterns  # noqa: E402

# autobahn pretty-prints its whole configuration for a debug line at every new
# WebSocket, whether or not that line is logged: 5 % of a server's CPU while a
# fleet reconnects. A plain repr says the same for whoever turns that log on.
autobahn_protocol.pformat = repr


def _releasing_the_upgraded_request(on_open):
    def onOpen(self):  # noqa: N802  (autobahn's name)
        # daphne leaves the HTTP request it upgraded registered as the socket's
        # producer: its channel, request and headers (about 3 KB) stay in
        # memory for as long as the charger is connected, and nothing reads
        # them after the upgrade.
        self.transport.unregisterProducer()
        on_open(self)

    return onOpen


WebSocketProtocol.onOpen = _releasing_the_upgraded_request(WebSocketProtocol.onOpen)

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
