import os
import sys

from daphne.endpoints import build_endpoint_description_strings
from django.core.management.base import BaseCommand


# Twisted listens with a backlog of 50 by default: a site's chargers all
# reconnecting after a power cut would see refused connections.
LISTEN_BACKLOG = 4096
HANDSHAKE_TIMEOUT_S = 30


def daphne_argv(host: str, port: int) -> list[str]:
    """The one place the server's flags live (also used by deploy/ and the benchmark)."""
    [endpoint] = build_endpoint_description_strings(host=host, port=port)
    return [
        sys.executable, "-m", "daphne",
        "--endpoint", f"{endpoint}:backlog={LISTEN_BACKLOG}",
        # daphne closes every WebSocket after 24 h by default; a charger must never be dropped for that.
        "--websocket_timeout", "-1",
        # daphne drops a handshake not finished within 5 s by default. When a site's chargers all
        # come back at once, handshakes queue for longer than that: each dropped one came back
        # for another try, and the retries buried the server. Chargers themselves wait ~30 s.
        "--websocket_connect_timeout", str(HANDSHAKE_TIMEOUT_S),
        "--proxy-headers",
        "csms.asgi:application",
    ]


class Command(BaseCommand):
    help = "Serve HTTP and the OCPP WebSocket endpoint with daphne."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        argv = daphne_argv(host, port)
        self.stdout.write(f"Serving on http://{host}:{port}/ and ws://{host}:{port}/ocpp/<charge point id>")
        sys.stdout.flush()
        os.execv(argv[0], argv)
