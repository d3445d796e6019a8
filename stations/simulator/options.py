"""What a simulated fleet is: :class:`FleetOptions`, checked when built, so a
mistyped option is a usage error and not a fleet that backs off and retries forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from stations.simulator.messages import MAX_ID_TAG_LENGTH, charger_id, connector_id_tag

# The OCPP versions a fleet speaks (the WebSocket subprotocols), or half and half.
PROTOCOL_16, PROTOCOL_201, MIXED = "ocpp1.6", "ocpp2.0.1", "mixed"
PROTOCOL_CHOICES = (PROTOCOL_16, PROTOCOL_201, MIXED)


@dataclass
class FleetOptions:
    url: str  # e.g. "ws://127.0.0.1:8000/ocpp/" (charger id is appended, URL-quoted)
    chargers: int = 10
    id_prefix: str = "SIM"  # charger ids SIM-00001 ...
    password: str | None = None  # HTTP Basic auth, username = charger id (security profile 1)
    connectors: int = 2
    ramp_up: float = 50.0  # new connections per second
    heartbeat_interval: int | None = None  # seconds; None = what BootNotification answers
    meter_interval: float = 60.0  # seconds between MeterValues while charging
    charging_share: float = 0.4  # share of connectors that run sessions on their own
    session_duration: tuple[float, float] = (600, 3600)  # min/max seconds of a session
    duration: float | None = None  # total run time in seconds, None = until cancelled
    id_tags: Sequence[str] = ("SIMTAG",)  # idTags drivers use
    seed: int | None = None  # repeatable fleets: Random per charger from seed + index
    offline_queue: bool = True  # queue transaction messages while offline, replay after boot
    max_backoff: float = 30.0  # seconds, cap of the reconnect back-off
    idle_gap: tuple[float, float] = (5.0, 60.0)  # seconds a session connector stays idle
    response_timeout: float = 30.0  # seconds to wait for a CALLRESULT / the handshake
    offline_queue_limit: int = 200  # MeterValues kept per charger while offline
    # Several servers with no load balancer in front: when given, charger i
    # connects to urls[i % len(urls)] and `url` is not used.
    urls: Sequence[str] = ()
    # When the run ends, open sessions end with a StopTransaction first
    # (a load test may not want that burst in its figures).
    end_sessions_at_stop: bool = True
    # Each connector's driver uses its own idTag "<charger id>-<connector>" instead
    # of id_tags: a CSMS refuses a tag already charging elsewhere (ConcurrentTx).
    id_tag_per_connector: bool = False
    # ocpp1.6 or ocpp2.0.1 for every charger, or mixed: chargers 1, 3, 5... speak 1.6, 2, 4, 6... 2.0.1.
    protocol: str = PROTOCOL_16

    def __post_init__(self) -> None:
        self._validate_urls()
        self._validate_fleet()
        self._validate_id_tags()
        _require(self.protocol in PROTOCOL_CHOICES, f"protocol must be one of {', '.join(PROTOCOL_CHOICES)}")

    def protocol_for(self, index: int) -> str:
        """The subprotocol charger ``index`` (0-based) speaks: a mixed fleet alternates, so any
        two neighbours (and a fleet of two) have one of each."""
        if self.protocol != MIXED:
            return self.protocol
        return PROTOCOL_16 if index % 2 == 0 else PROTOCOL_201

    def charger_ids(self) -> list[str]:
        return [charger_id(self.id_prefix, index) for index in range(self.chargers)]

    def driver_id_tags(self) -> list[str]:
        """Every idTag the fleet's drivers present (RemoteStart tags come from the CSMS)."""
        if not self.id_tag_per_connector:
            return list(self.id_tags)
        return [
            connector_id_tag(charge_point_id, number)
            for charge_point_id in self.charger_ids()
            for number in range(1, self.connectors + 1)
        ]

    def server_urls(self) -> tuple[str, ...]:
        """The servers the fleet connects to, in round-robin order."""
        return tuple(self.urls) or (self.url,)

    def url_for(self, index: int) -> str:
        """The server URL of charger ``index`` (0-based)."""
        servers = self.server_urls()
        return servers[index % len(servers)]

    def _validate_urls(self) -> None:
        # a str is a Sequence[str] too: urls="ws://a/" would be one server per character
        _require(not isinstance(self.urls, str), "urls must be a list of URLs, not one string")
        self.urls = tuple(self.urls)
        for url in (self.url, *self.urls):
            _require(_is_websocket_url(url), f"{url!r} is not a ws:// or wss:// URL")

    def _validate_fleet(self) -> None:
        _require(self.chargers >= 1, "chargers must be >= 1")
        _require(self.connectors >= 1, "connectors must be >= 1")
        _require(self.ramp_up > 0, "ramp_up must be > 0")
        _require(0.0 <= self.charging_share <= 1.0, "charging_share must be in [0, 1]")
        _require(self.meter_interval > 0, "meter_interval must be > 0")
        _require(_is_range(self.session_duration), "session_duration must be (min, max) > 0")
        _require(_is_range(self.idle_gap, allow_zero=True), "idle_gap must be (min, max) >= 0")
        _require(
            self.heartbeat_interval is None or self.heartbeat_interval > 0, "heartbeat_interval must be > 0"
        )
        _require(self.duration is None or self.duration > 0, "duration must be > 0")
        _require(self.max_backoff >= 1, "max_backoff must be >= 1 s")

    def _validate_id_tags(self) -> None:
        if self.id_tag_per_connector:  # the last charger's last connector has the longest tag
            longest = connector_id_tag(charger_id(self.id_prefix, self.chargers - 1), self.connectors)
            _require(
                len(longest) <= MAX_ID_TAG_LENGTH,
                f"idTag per connector {longest!r} is over {MAX_ID_TAG_LENGTH} chars: shorten id_prefix",
            )
            return
        _require(not isinstance(self.id_tags, str), "id_tags must be a list of idTags, not one string")
        _require(len(self.id_tags) > 0, "id_tags must not be empty")
        _require(
            all(0 < len(tag) <= MAX_ID_TAG_LENGTH for tag in self.id_tags),
            f"idTags are 1-{MAX_ID_TAG_LENGTH} chars (OCPP)",
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_websocket_url(url: object) -> bool:
    """A malformed URL is a usage error, not a reason to back off and retry forever."""
    if not isinstance(url, str):
        return False
    try:
        parse_uri(url)
    except InvalidURI:
        return False
    return True


def _is_range(bounds: Sequence[float], allow_zero: bool = False) -> bool:
    low, high = bounds
    return (low >= 0 if allow_zero else low > 0) and low <= high
