"""HTTP and WebSocket entry point, served by daphne (csms.server has its flags)."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django_http = get_asgi_application()  # sets Django up, which applies csms.library_patches

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from csms.proxies import ForwardedClient  # noqa: E402
from csms.scheduler import with_scheduler  # noqa: E402
from stations.dashboard import DashboardConsumer  # noqa: E402
from stations.gateway.routing import websocket_urlpatterns  # noqa: E402

# Staff browsers: their session (cookies) and an Origin of ALLOWED_HOSTS, or no socket. Chargers'
# routes stay without either: a charger sends no cookies, and each middleware costs every handshake.
dashboard_socket = path(
    "ws/dashboard/", AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi()))
)

# What import and set-up made lives as long as the process: out of the collector's sight, so its full passes,
# which stop every socket of the process, skip it (118,000 objects, ~80 ms a pass; docs/performance.md, "The tail").
gc.freeze()

# The interpreter passes between the event loop and the ORM threads at most every switch interval: a
# thread whose query returned waits that long for the event loop to let go, and the event loop as long
# for a thread building its next statement, once per round trip. The 5 ms default put tens of ms on
# every StopTransaction (14 round trips) and on the frames queued behind it; 1 ms halved issue 18's
# tail at ~700 CALLs/s (docs/performance.md, "Round 2"). Below that, switching costs more than it saves.
sys.setswitchinterval(0.001)

# The periodic jobs (csms.scheduler) start with the first request or socket this process serves.
application = with_scheduler(
    ForwardedClient(
        ProtocolTypeRouter(
            {
                "http": ASGIStaticFilesHandler(django_http) if settings.SERVE_STATIC else django_http,
                "websocket": URLRouter([dashboard_socket, *websocket_urlpatterns]),
            }
        )
    )
)
