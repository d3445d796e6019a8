"""Who the client is, when a reverse proxy stands in front: trusted only from the proxies we know.

daphne's --proxy-headers takes X-Forwarded-For from anyone, so any client
could choose the address recorded for it (handshakes, refusals, throttling).
Here the header counts only when the connection comes from an address in
TRUSTED_PROXIES (default: none; deploy/ names the local nginx), and the client
is the right-most forwarded address that is not a trusted proxy: nginx
appends the address it saw, so entries to the left of it are the client's say.

The same proxy terminates TLS: its X-Forwarded-Proto says whether a charger
came over wss://, and, when it checked a client certificate (OCPP security
profile 3, deploy/nginx.conf), X-SSL-Client-Verify and X-SSL-Client-S-DN say
which. nginx always sets those headers itself, so a client cannot bring its own.
"""

import ipaddress
import re

from django.conf import settings

# The scope key holding the subject CN of the client certificate a trusted proxy verified.
CLIENT_CERTIFICATE_NAME = "csms.client_certificate_name"


class ForwardedClient:
    """ASGI middleware: set scope['client'] and scope['scheme'] from a trusted proxy's headers."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and _is_trusted(scope.get("client")):
            scope = _forwarded(scope)
        return await self.application(scope, receive, send)


def _is_trusted(client) -> bool:
    return bool(client) and _address_in(client[0], settings.TRUSTED_PROXIES)


def _address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _forwarded(scope: dict) -> dict:
    headers = dict(scope.get("headers") or [])
    scope = dict(scope)
    client = forwarded_client(headers.get(b"x-forwarded-for", b"").decode("latin-1"))
    if client:
        scope["client"] = (client, 0)
    proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
    if proto in ("http", "https"):
        secure = proto == "https"
        scope["scheme"] = (
            ("https" if secure else "http") if scope["type"] == "http" else ("wss" if secure else "ws")
        )
    if headers.get(b"x-ssl-client-verify") == b"SUCCESS":  # nginx's $ssl_client_verify
        subject = headers.get(b"x-ssl-client-s-dn", b"").decode("utf-8", "replace")
        scope[CLIENT_CERTIFICATE_NAME] = common_name(subject)
    return scope


def forwarded_client(header: str) -> str | None:
    """The right-most address of X-Forwarded-For that is no trusted proxy; None if there is none or it is garbage."""
    for entry in reversed([part.strip() for part in header.split(",") if part.strip()]):
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return None  # a malformed entry where the proxy wrote: trust nothing of the header
        if not _address_in(address, settings.TRUSTED_PROXIES):
            return address
    return None


def common_name(distinguished_name: str) -> str | None:
    """The CN of an RFC 2253 subject ("CN=CP-1,O=Acme", nginx's $ssl_client_s_dn), its escapes undone.

    None when there is none, or more than one: no single name to match a charger to.
    """
    parts = (part.partition("=") for part in _SEPARATOR.split(distinguished_name))
    names = [_unescape(value) for kind, _, value in parts if kind.strip().upper() == "CN"]
    return names[0] if len(names) == 1 else None


_SEPARATOR = re.compile(r"(?<!\\)[,+]")  # "," between name parts, "+" inside one; "\," is a comma
_ESCAPE = re.compile(rb"\\([0-9A-Fa-f]{2}|.)", re.DOTALL)  # "\," or a byte as hex: "\C3\A9" is "é"


def _unescape(value: str) -> str:
    def byte(escape):
        return bytes.fromhex(escape[1].decode()) if len(escape[1]) == 2 else escape[1]

    return _ESCAPE.sub(byte, value.encode()).decode("utf-8", "replace")
