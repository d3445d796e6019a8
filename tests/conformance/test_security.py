"""OCTT 1.6, central system: the Security Whitepaper's cases (TC_074 … TC_083) not played elsewhere.

docs/conformance.md cites the tests of tests/stations/test_security_whitepaper.py and tests/deploy/ that
already play a case (TC_073, TC_079, TC_085 …); the others are here. The server of this module is a site as
the whitepaper's cases need it: its CA configured (SignCertificate answered with CertificateSigned), behind
a TLS terminator it trusts (X-Forwarded-Proto from 127.0.0.1, as the shipped nginx sends it), and on the
Redis channel layer, so Olga's and Ada's commands from the charger page reach the charger's socket.
"""

import asyncio
import hashlib
from contextlib import asynccontextmanager
from urllib.parse import quote

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from ocpp.v16 import call
from rest_framework.test import APIClient

from stations.models import Charger, ChargerEvent, Command
from tests.conformance.kit import CONNECTOR, as_charger, message_of, operate, status
from tests.conftest import ServerProcess, flush_after_server_writes, server_env
from tests.factories import register_charger
from tests.ocpp_client import TestCharger, basic_auth, eventually, wait_until
from tests.redis_server import REMOTE_CSMS_DB
from tests.stations.conftest import redis_channel_layers
from tests.stations.test_security_whitepaper import ca_files, csr_pem, new_key, self_signed

PASSWORD = "a-charger-key-of-24-chars"


@pytest.fixture(scope="module")
def secure_site_process(django_db_setup, django_db_blocker, redis_server):
    with django_db_blocker.unblock():
        server = ServerProcess(
            server_env(
                REDIS_URL=redis_server.url(REMOTE_CSMS_DB),
                TRUSTED_PROXIES="127.0.0.1",
                CHARGER_CA_CERTIFICATE=ca_files()["certificate"],
                CHARGER_CA_KEY=ca_files()["key"],
            )
        )
    yield server
    server.stop()


@pytest.fixture
def secure_site(secure_site_process, redis_server, transactional_db, settings):
    """The server, and this test process on its channel layer (as tests.stations.conftest.remote_csms)."""
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_server.url(REMOTE_CSMS_DB))
    yield secure_site_process
    flush_after_server_writes()


def root_certificate_pem(common_name: str) -> str:
    return self_signed(new_key(), common_name).public_bytes(serialization.Encoding.PEM).decode()


def hash_data(pem: str, algorithm: str = "SHA256") -> dict:
    """The certificateHashData a charger reports for an installed root certificate (whitepaper 1.6, 3.4)."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
    issuer_key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": digest(issuer_key).hexdigest(),
        "serialNumber": format(certificate.serial_number, "x"),
    }


def charger_page(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/chargers/CP-1/").content.decode()


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</table>", start)]


async def security_event(cp, event_type: str, info: str | None = None):
    """A SecurityEventNotification.req; the central system's .conf is empty, schema-checked by the library."""
    answer = await cp.send(
        call.SecurityEventNotification(type=event_type, timestamp="2026-11-21T09:30:00Z", tech_info=info)
    )
    assert answer is not None


# --- certificates ------------------------------------------------------------------------------------


def test_it_renews_the_chargers_certificate_when_asked_from_the_page(secure_site, operator):
    """TC_074_CSMS Update Charge Point Certificate by request of Central System: ExtendedTriggerMessage.req
    SignChargePointCertificate without connectorId (Accepted); the charger's SignCertificate.req is Accepted
    and followed by CertificateSigned.req: a valid PEM chain, signed by the site's CA, holding the CSR's key
    (at least 224-bit ECDSA or 2048-bit RSA) and naming the charger."""
    register_charger("CP-1")
    key = ec.generate_private_key(ec.SECP256R1())

    async def scenario(cp):
        page = await operate(operator, "CP-1", "extended-trigger", message="SignChargePointCertificate")
        signing = await cp.send(call.SignCertificate(csr=csr_pem("CP-1", key)))
        await eventually(lambda: cp.calls_of("CertificateSigned"), timeout=10)
        return page, cp.calls_of("ExtendedTriggerMessage"), signing, cp.calls_of("CertificateSigned")

    page, triggered, signing, signed = as_charger(secure_site, "CP-1", scenario)

    assert triggered == [{"requestedMessage": "SignChargePointCertificate"}]
    assert message_of(page) == "Ask for a message (extended): accepted"
    assert signing.status == "Accepted"
    [certificate] = x509.load_pem_x509_certificates(signed[0]["certificateChain"].encode())
    ca = x509.load_pem_x509_certificate(open(ca_files()["certificate"], "rb").read())
    certificate.verify_directly_issued_by(ca)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert certificate.public_key().key_size >= 224
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert wait_until(lambda: Command.objects.filter(action="CertificateSigned", status="accepted").exists())


@pytest.mark.parametrize(
    "certificate_type",
    ["ManufacturerRootCertificate", "CentralSystemRootCertificate"],
    ids=["TC_075_1-manufacturer-root", "TC_075_2-central-system-root"],
)
def test_it_installs_a_root_certificate_and_lists_the_installed_ones(secure_site, operator, certificate_type):
    """TC_075_1_CSMS, TC_075_2_CSMS Install a certificate on the Charge Point: InstallCertificate.req of that
    type with the PEM as given (Accepted), then GetInstalledCertificateIds.req of that type, whose
    certificateHashData (the installed one) the charger page shows."""
    register_charger("CP-1")
    pem = root_certificate_pem("Site root")
    installed = hash_data(pem)

    async def scenario(cp):
        cp.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificateHashData": [installed]}
        install = await operate(
            operator, "CP-1", "install-certificate", certificate_type=certificate_type, certificate=pem
        )
        listing = await operate(operator, "CP-1", "installed-certificates", certificate_type=certificate_type)
        return install, listing, cp.received

    install, listing, received = as_charger(secure_site, "CP-1", scenario)

    assert received == [
        ("InstallCertificate", {"certificateType": certificate_type, "certificate": pem.strip()}),
        ("GetInstalledCertificateIds", {"certificateType": certificate_type}),
    ]
    assert message_of(install) == "Install a root certificate: accepted"
    assert message_of(listing) == "List the installed root certificates: accepted"
    assert Command.objects.get(action="GetInstalledCertificateIds").response["certificateHashData"] == [
        installed
    ]
    assert installed["serialNumber"] in charger_page(operator)


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
def test_it_deletes_the_certificate_the_charger_listed(secure_site, operator, algorithm):
    """TC_076_CSMS Delete a specific certificate from the Charge Point: GetInstalledCertificateIds.req, then
    DeleteCertificate.req whose certificateHashData is the listed one (with each hash algorithm); Accepted."""
    register_charger("CP-1")
    listed = hash_data(root_certificate_pem("Old site root"), algorithm)

    async def scenario(cp):
        cp.answers["GetInstalledCertificateIds"] = {"status": "Accepted", "certificateHashData": [listed]}
        await operate(
            operator, "CP-1", "installed-certificates", certificate_type="CentralSystemRootCertificate"
        )
        page = await operate(
            operator,
            "CP-1",
            "delete-certificate",
            hash_algorithm=listed["hashAlgorithm"],
            issuer_name_hash=listed["issuerNameHash"],
            issuer_key_hash=listed["issuerKeyHash"],
            serial_number=listed["serialNumber"],
        )
        return page, cp.calls_of("DeleteCertificate")

    page, sent = as_charger(secure_site, "CP-1", scenario)

    assert sent == [{"certificateHashData": listed}]
    assert message_of(page) == "Delete a root certificate: accepted"


# --- security events ---------------------------------------------------------------------------------


def test_it_takes_a_refused_charger_certificate_and_its_security_event(secure_site, operator):
    """TC_077_CSMS Invalid ChargePointCertificate Security Event: the charger rejects the CertificateSigned.req
    sent for its SignCertificate.req and reports InvalidChargePointCertificate; the central system answers
    the SecurityEventNotification.req, keeps the rejection and shows the event on the charger page."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["CertificateSigned"] = {"status": "Rejected"}
        await cp.send(call.SignCertificate(csr=csr_pem("CP-1")))
        await eventually(lambda: cp.calls_of("CertificateSigned"), timeout=10)
        await security_event(cp, "InvalidChargePointCertificate", "certificate chain does not verify")

    as_charger(secure_site, "CP-1", scenario)

    assert wait_until(lambda: Command.objects.filter(action="CertificateSigned", status="rejected").exists())
    event = ChargerEvent.objects.get(kind=ChargerEvent.Kind.SECURITY)
    assert (event.name, event.value) == ("InvalidChargePointCertificate", "certificate chain does not verify")
    assert "InvalidChargePointCertificate" in section(charger_page(operator), "security-events")


def test_it_takes_a_refused_central_system_root_certificate_and_its_security_event(secure_site, operator):
    """TC_078_CSMS Invalid CentralSystemCertificate Security Event: InstallCertificate.req of a
    CentralSystemRootCertificate, Rejected, then SecurityEventNotification.req InvalidCentralSystemCertificate:
    answered, the rejection shown, the event on the charger page."""
    register_charger("CP-1")

    async def scenario(cp):
        cp.answers["InstallCertificate"] = {"status": "Rejected"}
        page = await operate(
            operator,
            "CP-1",
            "install-certificate",
            certificate_type="CentralSystemRootCertificate",
            certificate=root_certificate_pem("Not the server's root"),
        )
        await security_event(cp, "InvalidCentralSystemCertificate")
        return page

    page = as_charger(secure_site, "CP-1", scenario)

    assert message_of(page) == "Install a root certificate: rejected"
    assert ChargerEvent.objects.get(kind=ChargerEvent.Kind.SECURITY).name == "InvalidCentralSystemCertificate"
    assert "InvalidCentralSystemCertificate" in section(charger_page(operator), "security-events")


# --- signed firmware -----------------------------------------------------------------------------------

FIRMWARE = {
    "location": "https://firmware.example/2.2.bin",
    "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "signature": "c2lnbmF0dXJl",
}


def test_it_follows_a_secure_firmware_update_through_the_reboot(secure_site, operator):
    """TC_080_CSMS Secure Firmware Update: SignedUpdateFirmware.req from the page with location, retrieve time,
    signing certificate and signature (Accepted); SignedFirmwareStatusNotification.req Downloading, Downloaded,
    SignatureVerified, Installing, InstallRebooting answered; the charger boots again (Accepted), reports
    Installed and the critical FirmwareUpdated security event, raised on the dashboard."""
    register_charger("CP-1")

    async def before_reboot(cp):
        page = await operate(operator, "CP-1", "signed-update-firmware", **FIRMWARE)
        request = cp.calls_of("SignedUpdateFirmware")[0]
        for progress in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"):
            await cp.send(
                call.SignedFirmwareStatusNotification(status=progress, request_id=request["requestId"])
            )
        return page, request

    async def after_reboot(cp):
        await status(cp, "Available", connector_id=0)
        await cp.send(
            call.SignedFirmwareStatusNotification(status="Installed", request_id=request["requestId"])
        )
        await security_event(cp, "FirmwareUpdated", "2.2")

    page, request = as_charger(secure_site, "CP-1", before_reboot)
    as_charger(secure_site, "CP-1", after_reboot)  # boots first: Accepted

    command = Command.objects.get(action="SignedUpdateFirmware")
    firmware = request["firmware"]
    assert request["requestId"] == command.pk and firmware["location"] == FIRMWARE["location"]
    assert (firmware["signingCertificate"], firmware["signature"]) == (
        FIRMWARE["signing_certificate"],
        FIRMWARE["signature"],
    )
    assert firmware["retrieveDateTime"].endswith("Z")
    assert message_of(page) == "Update firmware (signed): accepted"
    assert (command.progress, Charger.objects.get().firmware_status) == ("Installed", "Installed")
    client = Client()
    client.force_login(operator)
    assert "Critical security event: FirmwareUpdated" in client.get("/dashboard/").content.decode()


def test_it_follows_a_secure_firmware_update_the_charger_found_wrongly_signed(secure_site, operator):
    """TC_081_CSMS Secure Firmware Update – Invalid Signature: SignedUpdateFirmware.req (Accepted), then
    Downloading, Downloaded, InvalidSignature and the InvalidFirmwareSignature security event: each answered,
    the request's progress InvalidSignature on the charger page."""
    register_charger("CP-1")

    async def scenario(cp):
        await operate(operator, "CP-1", "signed-update-firmware", **FIRMWARE)
        request_id = cp.calls_of("SignedUpdateFirmware")[0]["requestId"]
        for progress in ("Downloading", "Downloaded", "InvalidSignature"):
            await cp.send(call.SignedFirmwareStatusNotification(status=progress, request_id=request_id))
        await security_event(cp, "InvalidFirmwareSignature")
        return request_id

    request_id = as_charger(secure_site, "CP-1", scenario)

    assert Command.objects.get(pk=request_id).progress == "InvalidSignature"
    page = charger_page(operator)
    row = page[page.index(f'data-request-id="{request_id}"') :].split("</tr>")[0]
    assert "InvalidSignature" in row
    assert "InvalidFirmwareSignature" in section(page, "security-events")


# --- the security profile -------------------------------------------------------------------------------


@asynccontextmanager
async def behind_tls(server, charge_point_id: str, secure: bool):
    """A charger's socket as the TLS terminator passes it on: X-Forwarded-Proto says how it came."""
    headers = {**basic_auth(charge_point_id, PASSWORD), "X-Forwarded-Proto": "https" if secure else "http"}
    async with websockets.connect(
        server.ws_url + quote(charge_point_id, safe=""),
        subprotocols=["ocpp1.6"],
        additional_headers=headers,
        open_timeout=10,
    ) as socket:
        charger = TestCharger(charge_point_id, socket, response_timeout=10)
        serving = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            serving.cancel()


def test_it_upgrades_a_chargers_security_profile_and_refuses_the_old_way_after(secure_site, admin):
    """TC_083_CSMS Upgrade Charge Point Security Profile – Accepted: on profile 1, ChangeConfiguration.req
    SecurityProfile one level higher (Accepted), then Reset.req Hard (Accepted); the charger reconnects over
    TLS, its BootNotification is Accepted and its StatusNotifications answered; a connection the old way
    (plain ws://, profile 1) is refused from then on."""
    register_charger("CP-1", PASSWORD)

    async def on_profile_1(cp):
        changed = await operate(admin, "CP-1", "change-configuration", key="SecurityProfile", value="2")
        reset = await operate(admin, "CP-1", "reset", type="Hard")
        return changed, reset, cp.received

    async def over_tls():
        async with behind_tls(secure_site, "CP-1", secure=True) as cp:
            booted = await cp.boot()
            await status(cp, "Available", connector_id=0)
            await status(cp, "Available", connector_id=CONNECTOR)
            return booted

    async def the_old_way():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refusal:
            async with behind_tls(secure_site, "CP-1", secure=False):
                pass
        return refusal.value.response.status_code

    changed, reset, received = as_charger(secure_site, "CP-1", on_profile_1, password=PASSWORD)

    assert received == [
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"}),
        ("Reset", {"type": "Hard"}),
    ]
    assert (message_of(changed), message_of(reset)) == ("Change configuration: accepted", "Reset: accepted")
    assert Charger.objects.get().security_profile == Charger.SecurityProfile.TLS_BASIC_AUTH
    assert asyncio.run(over_tls()).status == "Accepted"
    assert asyncio.run(the_old_way()) == 403


def test_it_keeps_the_profile_a_charger_did_not_accept(secure_site, admin):
    """A SecurityProfile the charger rejects changes nothing: it still connects as before."""
    register_charger("CP-1", PASSWORD)

    async def scenario(cp):
        cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
        return await operate(admin, "CP-1", "change-configuration", key="SecurityProfile", value="2")

    page = as_charger(secure_site, "CP-1", scenario, password=PASSWORD)

    assert message_of(page) == "Change configuration: rejected"
    assert Charger.objects.get().security_profile == Charger.SecurityProfile.BASIC_AUTH


@pytest.mark.parametrize(
    "who,value,answer",
    [("admin", "1", 400), ("admin", "4", 400), ("admin", "two", 400), ("operator", "3", 403)],
    ids=["a-downgrade", "no-such-profile", "not-a-number", "an-operator"],
)
def test_it_refuses_a_security_profile_change_it_may_not_send(db, admin, operator, who, value, answer):
    """Profiles go up only (the charger must reject a downgrade, OCTT TC_084), are 1 to 3, and decide who
    may connect: admins only. Refused before anything is sent, naming the field."""
    register_charger("CP-1", PASSWORD, security_profile=Charger.SecurityProfile.TLS_BASIC_AUTH)
    client = APIClient()
    client.force_authenticate({"admin": admin, "operator": operator}[who])

    refused = client.post(
        "/api/v1/chargers/CP-1/commands/",
        {"action": "ChangeConfiguration", "payload": {"key": "securityprofile", "value": value}},
        format="json",
    )

    assert refused.status_code == answer
    if answer == 400:
        assert list(refused.json()["payload"]) == ["value"]
    assert not Command.objects.exists()
    assert Charger.objects.get().security_profile == Charger.SecurityProfile.TLS_BASIC_AUTH
