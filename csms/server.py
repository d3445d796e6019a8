"""The server's flags: how daphne serves this project, in one place.

`manage.py serve`, the systemd unit in deploy/ and the benchmark (through
`manage.py serve`) all start the server with these.
"""

import sys

from daphne.endpoints import build_endpoint_description_strings

# Twisted listens with a backlog of 50 by default: a site's chargers all
# reconnecting after a power cut would see refused connections.
LISTEN_BACKLOG = 4096
HANDSHAKE_TIMEOUT_S = 30
# The largest WebSocket message daphne takes in (its default: 1 MiB, dropped without a word). The
# product's own limit (OCPP_MAX_FRAME_BYTES, 64 KiB) answers larger frames with a CALLERROR, which it
# can only do for frames daphne let through; past this, the socket is closed with 1009 (too big).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def daphne_argv(host: str, port: int) -> list[str]:
    """The daphne command line serving HTTP and the OCPP WebSocket endpoint on host:port."""
    [endpoint] = build_endpoint_description_strings(host=host, port=port)
    return [
        sys.executable,
        "-m",
        "daphne",
        "--endpoint",
        f"{endpoint}:backlog={LISTEN_BACKLOG}",
        # daphne closes every WebSocket after 24 h by default; a charger must never be dropped for that.
        "--websocket_timeout",
        "-1",
        # daphne drops a handshake not finished within 5 s by default. When a site's chargers all
        # come back at once, handshakes queue for longer than that: each dropped one came back
        # for another try, and the retries buried the server. Chargers themselves wait ~30 s.
        "--websocket_connect_timeout",
        str(HANDSHAKE_TIMEOUT_S),
        "--websocket-max-message-size",
        str(MAX_MESSAGE_BYTES),
        "--websocket-max-frame-size",
        str(MAX_MESSAGE_BYTES),
        # No --proxy-headers: daphne would take X-Forwarded-For from anyone (csms.proxies trusts known proxies).
        "csms.asgi:application",
    ]
