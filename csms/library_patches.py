"""Every change this project makes to a third-party library's behaviour, applied by `apply()`.

Each patch names the library version it was written and measured against
(the pins of requirements.txt), why it exists, what it saved and the
upstream issue. `apply()` refuses to run on another version: an upgrade must
re-check the patch against the new code, then move the pin here.

Departures that are subclasses or our own code rather than patches (the
Redis channel layer's pool, the consumer's loop, the ORM pool, the CALL
dispatcher) are listed with these in docs/architecture.md.
"""

from importlib.metadata import version

PINNED = {"ocpp": "2.1.0", "autobahn": "26.10.2", "daphne": "4.2.3"}

_applied = False


def apply() -> None:
    """Apply every patch once per process (Django's app loading calls it: StationsConfig.ready)."""
    global _applied
    if _applied:
        return
    _check_versions()
    _validate_ocpp_payloads_inline()
    _autobahn_without_pretty_printing()
    _daphne_releasing_the_upgraded_request()
    _applied = True


def _check_versions() -> None:
    for package, pinned in PINNED.items():
        installed = version(package)
        if installed != pinned:
            raise RuntimeError(
                f"csms.library_patches was written for {package} {pinned}, but {installed} is installed: "
                "re-check the patch for it against the new version, then update PINNED."
            )


def _validate_ocpp_payloads_inline() -> None:
    """ocpp: validate each payload on the event loop instead of in the default thread pool.

    Schema validation takes microseconds; handing it to a thread costs more
    than the validation and queues every charger's frame behind the pool.
    The library's own switch (mobilityhouse/ocpp#678; default discussed in
    mobilityhouse/ocpp#705).
    """
    import ocpp.messages

    ocpp.messages.ASYNC_VALIDATION = False


def _autobahn_without_pretty_printing() -> None:
    """autobahn: `repr` instead of `pprint.pformat` for its per-connection debug line.

    autobahn pretty-prints its whole configuration for a debug line at every
    new WebSocket, whether or not that line is logged: 5 % of a server's CPU
    while a fleet reconnects (docs/performance.md). Only the text of that
    debug line changes. No upstream issue known; none filed from here.
    """
    import autobahn.websocket.protocol as autobahn_protocol

    autobahn_protocol.pformat = repr


def _daphne_releasing_the_upgraded_request() -> None:
    """daphne: let go of the HTTP request a WebSocket was upgraded from, once the socket is open.

    daphne leaves the upgraded HTTPChannel registered as the socket's
    transport producer (the same observation as django/daphne#170): its
    channel, request and headers, about 3 KB, stay in memory for as long as
    the charger is connected, and nothing reads them after the upgrade.
    Measured: 32.1 → 26.9 KB per idle connection (docs/performance.md).
    """
    from daphne.ws_protocol import WebSocketProtocol

    WebSocketProtocol.onOpen = releasing_the_upgraded_request(WebSocketProtocol.onOpen)


def releasing_the_upgraded_request(on_open):
    """daphne's `on_open`, unregistering the upgraded HTTP channel as the transport's producer first."""

    def onOpen(self):  # noqa: N802  (autobahn's name)
        self.transport.unregisterProducer()
        on_open(self)

    return onOpen
