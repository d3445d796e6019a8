"""OCPP security profiles over the shipped nginx site: a charger on wss:// behind real TLS.

The operating system's nginx runs deploy/nginx.conf (tests/deploy/nginx.py) with a self-signed
certificate in front of a real `manage.py serve` that trusts it as its proxy. Chargers are the
`ocpp` library's client on `websockets`, trusting only that certificate.

Profile 1: password over ws:// or wss://. Profile 2: password over wss:// only; the server knows
how the charger came from nginx's X-Forwarded-Proto, believed only from TRUSTED_PROXIES. Profile 3:
wss:// with a client certificate that nginx verified and whose subject CN is the charge point id.
"""

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import websockets
from django.test import Client
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from csms.proxies import common_name
from stations import services as station_services
from stations.models import Charger, ConnectionAttempt
from tests import personas
from tests.conftest import own_server
from tests.deploy.nginx import (
    ROOT,
    Certificate,
    NginxSite,
    SitePorts,
    client_certificate,
    self_signed_certificate,
    site_literals,
    site_ports,
)
from tests.factories import register_charger
from tests.ocpp_client import TestCharger, basic_auth, wait_until

PASSWORD = "a-charger-key-of-24-chars"
Profile = Charger.SecurityProfile

# Behind nginx as a site runs it: nginx is the trusted proxy, it serves /static/, browsers go to https.
tls_site_process, tls_site = own_server(
    "tls_site", TRUSTED_PROXIES="127.0.0.1", SERVE_STATIC="False", SECURE_SSL_REDIRECT="True"
)


@dataclass(frozen=True)
class Front:
    """nginx in front of the server: its two ports, its certificate, the CA of the chargers' certificates."""

    ports: SitePorts
    certificate: Certificate
    chargers_ca: Certificate
    directory: Path

    @property
    def wss_url(self) -> str:
        return f"wss://127.0.0.1:{self.ports.https}/ocpp/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports.http}/ocpp/"

    def trusting_only_the_site(self, client: Certificate | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certificate.cert))  # and no system CA
        if client is not None:
            context.load_cert_chain(client.cert, client.key)
        return context

    def charger_certificate(self, common_name: str) -> Certificate:
        return client_certificate(self.directory, self.chargers_ca, common_name)


@pytest.fixture(scope="module")
def nginx_front(tls_site_process, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    certificate = self_signed_certificate(directory)
    chargers_ca = self_signed_certificate(directory, "chargers-ca")
    ports = site_ports(upstream=tls_site_process.port)
    literals = site_literals(ports, certificate, ROOT / "static", chargers_ca.cert)
    nginx = NginxSite(directory / "nginx", literals, ports)
    nginx.start()
    yield Front(ports, certificate, chargers_ca, directory)
    nginx.stop()


@pytest.fixture
def front(nginx_front, tls_site):
    """nginx and the server, on a database emptied after each test."""
    return nginx_front


@asynccontextmanager
async def charger_at(url: str, charge_point_id: str, password: str | None, tls=None, headers=None):
    """tests.ocpp_client.connected_charger, over TLS when `tls` (an SSLContext) is given."""
    auth = basic_auth(charge_point_id, password) if password else {}
    async with websockets.connect(
        url + quote(charge_point_id, safe=""),
        subprotocols=["ocpp1.6"],
        additional_headers={**auth, **(headers or {})},
        ssl=tls,
        open_timeout=10,
    ) as socket:
        charger = TestCharger(charge_point_id, socket, response_timeout=10)
        serving = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            serving.cancel()


def boots(url: str, charge_point_id: str, password: str | None = PASSWORD, **connection) -> tuple[str, str]:
    """(BootNotification status, Heartbeat time) of one connection."""

    async def scenario():
        async with charger_at(url, charge_point_id, password, **connection) as charger:
            booted = await charger.boot()
            heartbeat = await charger.send(call.Heartbeat())
            return booted.status, heartbeat.current_time

    return asyncio.run(scenario())


def refused(url: str, charge_point_id: str, password: str | None = PASSWORD, **connection) -> int:
    """The HTTP status a handshake was refused with."""

    async def scenario():
        with pytest.raises(InvalidStatus) as refusal:
            async with charger_at(url, charge_point_id, password, **connection):
                pass
        return refusal.value.response.status_code

    return asyncio.run(scenario())


def outcomes(charge_point_id: str, count: int) -> list[str]:
    """The recorded outcomes of the charger's handshakes, oldest first, once `count` are written."""
    attempts = ConnectionAttempt.objects.filter(charge_point_id=charge_point_id)
    wait_until(lambda: attempts.count() >= count, 10)
    return list(attempts.order_by("created_at", "id").values_list("outcome", flat=True))


def test_it_boots_and_heartbeats_a_profile_2_charger_over_wss_with_its_password(front):
    register_charger("CP-WSS", PASSWORD, security_profile=Profile.TLS_BASIC_AUTH)

    status, heartbeat_time = boots(front.wss_url, "CP-WSS", tls=front.trusting_only_the_site())

    assert status == "Accepted" and heartbeat_time.endswith("Z")
    assert outcomes("CP-WSS", 1) == [ConnectionAttempt.Outcome.ACCEPTED]
    assert Charger.objects.get(charge_point_id="CP-WSS").remote_address == "127.0.0.1"


def test_it_is_real_tls_a_charger_trusting_other_authorities_refuses(front):
    register_charger("CP-WSS", PASSWORD, security_profile=Profile.TLS_BASIC_AUTH)
    system_authorities = ssl.create_default_context()

    with pytest.raises(ssl.SSLCertVerificationError):
        boots(front.wss_url, "CP-WSS", tls=system_authorities)


def test_it_refuses_a_profile_2_charger_over_plain_ws_without_checking_its_password(front, tls_site):
    register_charger("CP-WSS", PASSWORD, security_profile=Profile.TLS_BASIC_AUTH)
    direct = tls_site.ws_url  # from 127.0.0.1, a trusted proxy, but with no X-Forwarded-Proto: not wss

    assert refused(front.ws_url, "CP-WSS") == 403, "nginx's port 80 says X-Forwarded-Proto: http"
    assert refused(direct, "CP-WSS") == 403
    assert refused(front.ws_url, "CP-WSS", "a-wrong-password") == 403

    assert outcomes("CP-WSS", 3) == [ConnectionAttempt.Outcome.INSECURE] * 3
    assert not Charger.objects.get(charge_point_id="CP-WSS").is_connected


def test_it_keeps_profile_1_chargers_on_plain_ws_and_on_wss(front):
    register_charger("CP-PLAIN", PASSWORD)

    assert boots(front.ws_url, "CP-PLAIN")[0] == "Accepted"
    assert boots(front.wss_url, "CP-PLAIN", tls=front.trusting_only_the_site())[0] == "Accepted"


def test_it_refuses_a_forwarded_proto_from_a_client_that_is_no_trusted_proxy(csms):
    register_charger("CP-WSS", PASSWORD, security_profile=Profile.TLS_BASIC_AUTH)

    assert refused(csms.ws_url, "CP-WSS", headers={"X-Forwarded-Proto": "https"}) == 403
    assert outcomes("CP-WSS", 1) == [ConnectionAttempt.Outcome.INSECURE]


def test_it_admits_a_profile_3_charger_by_the_certificate_naming_it(front):
    register_charger("CP-CERT", security_profile=Profile.TLS_CLIENT_CERTIFICATE)
    own = front.trusting_only_the_site(client=front.charger_certificate("CP-CERT"))

    assert boots(front.wss_url, "CP-CERT", None, tls=own)[0] == "Accepted"
    assert outcomes("CP-CERT", 1) == [ConnectionAttempt.Outcome.ACCEPTED]


def test_it_refuses_a_profile_3_charger_without_its_own_certificate(front):
    register_charger("CP-CERT", security_profile=Profile.TLS_CLIENT_CERTIFICATE)
    anothers = front.trusting_only_the_site(client=front.charger_certificate("CP-OTHER"))
    forged = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "CN=CP-CERT"}  # nginx overwrites them

    assert refused(front.wss_url, "CP-CERT", None, tls=anothers) == 403
    assert refused(front.wss_url, "CP-CERT", None, tls=front.trusting_only_the_site(), headers=forged) == 403
    assert refused(front.ws_url, "CP-CERT", None, headers=forged) == 403

    no_certificate, insecure = ConnectionAttempt.Outcome.NO_CERTIFICATE, ConnectionAttempt.Outcome.INSECURE
    assert outcomes("CP-CERT", 3) == [no_certificate, no_certificate, insecure]


def test_it_serves_pages_over_https_and_static_files_from_nginx(front):
    https = front.trusting_only_the_site()
    site = f"https://127.0.0.1:{front.ports.https}"

    with urllib.request.urlopen(f"{site}/login/", context=https, timeout=10) as page:
        assert page.status == 200 and page.url == f"{site}/login/", (
            "no redirect: the server knows it is https"
        )
    with urllib.request.urlopen(f"{site}/static/js/charts.js", context=https, timeout=10) as script:
        assert (
            script.headers["Server"].startswith("nginx")
            and script.read() == (ROOT / "static/js/charts.js").read_bytes()
        )
    assert redirect_of(f"http://127.0.0.1:{front.ports.http}/login/") == "https://127.0.0.1/login/"


def redirect_of(url: str) -> str:
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(Keep).open(url, timeout=10)
    return answer.value.headers["Location"]


def test_it_carries_the_dashboards_socket_over_wss(front):
    client = Client()
    client.force_login(personas.operator())
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    url = f"wss://127.0.0.1:{front.ports.https}/ws/dashboard/"

    async def first_message():
        async with websockets.connect(
            url,
            ssl=front.trusting_only_the_site(),
            origin=f"https://127.0.0.1:{front.ports.https}",
            additional_headers={"Cookie": cookie},
            open_timeout=10,
        ) as socket:
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    assert isinstance(asyncio.run(first_message()), dict)


def admit(charge_point_id: str, **transport):
    return station_services.admit_charger(
        charge_point_id=charge_point_id, username=charge_point_id, password=PASSWORD, remote_address="10.0.0.7",
        offered=["ocpp1.6"], connection_id="c-1", channel_name="process-1", **transport,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "transport", "outcome"),
    [
        (Profile.BASIC_AUTH, {}, ConnectionAttempt.Outcome.ACCEPTED),
        (Profile.TLS_BASIC_AUTH, {}, ConnectionAttempt.Outcome.INSECURE),  # unsaid is not secure
        (Profile.TLS_BASIC_AUTH, {"secure": True}, ConnectionAttempt.Outcome.ACCEPTED),
        (Profile.TLS_CLIENT_CERTIFICATE, {"secure": True}, ConnectionAttempt.Outcome.NO_CERTIFICATE),
        (Profile.TLS_CLIENT_CERTIFICATE, {"secure": True, "certificate_name": "cp-1"}, "no_certificate"),
        (Profile.TLS_CLIENT_CERTIFICATE, {"secure": True, "certificate_name": "CP-1"}, "accepted"),
        (Profile.TLS_CLIENT_CERTIFICATE, {"secure": False, "certificate_name": "CP-1"}, "insecure"),
    ],
)
def test_it_admits_by_the_chargers_security_profile_at_the_handshake(db, profile, transport, outcome):
    register_charger("CP-1", PASSWORD, security_profile=profile)

    admission = admit("CP-1", **transport)

    assert admission.outcome == outcome and admission.admitted == (outcome == "accepted")


@pytest.mark.parametrize(
    ("subject", "name"),
    [
        ("CN=CP-1,O=Charger maker", "CP-1"),
        ("O=Charger maker,CN=CP\\,2", "CP,2"),  # an escaped comma is part of the name
        ("CN=Caf\\C3\\A9-3", "Café-3"),  # UTF-8 bytes in hex
        ("O=Charger maker", None),
        ("CN=CP-1,CN=CP-2", None),  # two names: no single one to match
    ],
)
def test_it_reads_the_common_name_of_the_subject_nginx_passes(subject, name):
    assert common_name(subject) == name
