"""HTTP and WebSocket entry point, served by daphne (csms.server has its flags)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django_http = get_asgi_application()  # sets Django up, which applies csms.library_patches

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from csms.proxies import ForwardedClient  # noqa: E402
from stations.gateway.routing import websocket_urlpatterns  # noqa: E402

application = ForwardedClient(
    ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http,
            "websocket": URLRouter(websocket_urlpatterns),
        }
    )
)
