"""The OCPP 1.6 Security Whitepaper, central-system side, with the `ocpp` library as the charger.

A charger's password changed over OCPP (AuthorizationKey), security events, certificates signed by the
site's CA and managed on the charger, logs and signed firmware followed by their requestId.
"""

import asyncio
import datetime
import functools
import tempfile
from pathlib import Path

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from ocpp.v16 import call
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations import certificates, security
from stations.models import (
    Charger,
    ChargerConfigurationKey,
    ChargerEvent,
    Command,
    MessageLog,
    PasswordChange,
)
from tests.conftest import own_server
from tests.factories import register_charger
from tests.ocpp_client import AnsweringCharger, connected_charger, eventually, orm, wait_until

OLD_KEY = "old-key-0123456789"
NEW_KEY = "new-key-abcdefghij-42"


# --- a CA of the site's own, as docs/operations.md makes it ------------------------------------------


def new_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def self_signed(key, common_name="CSMS chargers CA") -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@functools.cache
def ca_files() -> dict[str, str]:
    """chargers-ca.pem and chargers-ca.key in a directory of their own, made once per test run."""
    directory = Path(tempfile.mkdtemp(prefix="secwp-ca-"))
    key = new_key()
    (directory / "chargers-ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (directory / "chargers-ca.pem").write_bytes(self_signed(key).public_bytes(serialization.Encoding.PEM))
    return {"certificate": str(directory / "chargers-ca.pem"), "key": str(directory / "chargers-ca.key")}


def csr_pem(common_name: str, key=None, organization=None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(name(common_name, organization))
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


ca_process, ca_csms = own_server(
    "ca_csms",
    CHARGER_CA_CERTIFICATE=lambda: ca_files()["certificate"],
    CHARGER_CA_KEY=lambda: ca_files()["key"],
)


# --- helpers ---------------------------------------------------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def live(server, steps, charge_point_id="CP-1", password=None):
    """Run `steps(cp)` with the charger connected and booted; returns what it returns."""

    async def scenario():
        async with connected_charger(server.ws_url, charge_point_id, password, cls=AnsweringCharger) as cp:
            await cp.boot()
            return await steps(cp)

    return asyncio.run(scenario())


def post_command(client, action, payload, charge_point_id="CP-1"):
    return client.post(
        f"/api/v1/chargers/{charge_point_id}/commands/", {"action": action, "payload": payload}, format="json"
    )


def connects(server, password, charge_point_id="CP-1") -> bool:
    async def attempt():
        try:
            async with connected_charger(server.ws_url, charge_point_id, password) as cp:
                await cp.boot()
                return True
        except websockets.exceptions.InvalidStatus as refused:
            assert refused.response.status_code == 403
            return False

    return asyncio.run(attempt())


def logged_frames_of(action: str) -> list[str]:
    return list(MessageLog.objects.filter(action=action).values_list("payload", flat=True))


# --- the charger's password: ChangeConfiguration AuthorizationKey ------------------------------------


def test_it_takes_the_new_password_once_the_charger_accepted_it_and_refuses_the_old_one(remote_csms, admin):
    register_charger("CP-1", password=OLD_KEY)
    client = api(admin)

    async def steps(cp):
        answer = await orm(
            post_command, client, "ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_KEY}
        )
        return answer, cp.calls_of("ChangeConfiguration")

    answer, sent = live(remote_csms, steps, password=OLD_KEY)

    assert answer.status_code == 201 and answer.json()["status"] == "accepted"
    assert sent == [{"key": "AuthorizationKey", "value": NEW_KEY}]  # the charger got the key itself
    assert not connects(remote_csms, OLD_KEY)
    assert connects(remote_csms, NEW_KEY)
    # ...and nobody else did: not the command, its API answer, the message log nor the configuration
    command = Command.objects.get(action="ChangeConfiguration")
    assert command.payload == {"key": "AuthorizationKey", "value": security.REDACTED}
    assert NEW_KEY not in answer.content.decode()
    assert wait_until(lambda: logged_frames_of("ChangeConfiguration"))
    assert all(NEW_KEY not in frame for frame in logged_frames_of("ChangeConfiguration"))
    assert not ChargerConfigurationKey.objects.filter(key__iexact="AuthorizationKey").exists()
    assert not PasswordChange.objects.exists()  # the hash was only kept until the answer
    assert NEW_KEY not in browser(admin).get("/chargers/CP-1/").content.decode()


def test_it_keeps_the_old_password_when_the_charger_refuses_the_new_one_from_the_page(remote_csms, admin):
    register_charger("CP-1", password=OLD_KEY)

    async def steps(cp):
        cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
        form = {"charger-key-key": NEW_KEY}
        page = await orm(lambda: browser(admin).post("/chargers/CP-1/password/", form, follow=True))
        return page, cp.calls_of("ChangeConfiguration")

    page, sent = live(remote_csms, steps, password=OLD_KEY)

    assert sent == [{"key": "AuthorizationKey", "value": NEW_KEY}]
    assert "Change the charger&#x27;s password: rejected" in page.content.decode()
    assert connects(remote_csms, OLD_KEY)
    assert not connects(remote_csms, NEW_KEY)
    assert not PasswordChange.objects.exists()


def test_it_refuses_a_key_change_to_an_operator_and_a_key_ocpp_does_not_allow(remote_csms, operator, admin):
    register_charger("CP-1", password=OLD_KEY)
    change = {"key": "authorizationkey", "value": NEW_KEY}  # configuration keys are case-insensitive

    refused = post_command(api(operator), "ChangeConfiguration", change)
    too_short = post_command(api(admin), "ChangeConfiguration", {**change, "value": "short"})
    page = browser(operator).post("/chargers/CP-1/password/", {"charger-key-key": NEW_KEY})

    assert refused.status_code == 403 and "admins" in refused.json()["detail"]
    assert too_short.status_code == 400 and "16 to 40 characters" in too_short.json()["payload"]["value"][0]
    assert page.status_code == 403
    assert not Command.objects.exists() and Charger.objects.get().check_password(OLD_KEY)
    assert 'id="operate-password"' not in browser(operator).get("/chargers/CP-1/").content.decode()
    assert 'id="operate-password"' in browser(admin).get("/chargers/CP-1/").content.decode()


# --- security events ------------------------------------------------------------------------------


def test_it_stores_security_events_shows_them_and_raises_the_critical_ones_on_the_dashboard(csms, operator):
    register_charger("CP-1", password=OLD_KEY)
    register_charger("CP-2")

    async def steps(cp):
        for event_type, info in (("InvalidMessages", "bad frame"), ("TamperDetectionActivated", "door open")):
            answer = await cp.send(
                call.SecurityEventNotification(
                    type=event_type, timestamp="2026-11-20T10:00:00Z", tech_info=info
                )
            )
            assert (
                answer is not None
            )  # an empty SecurityEventNotification.conf, schema-checked by the library

    live(csms, steps, password=OLD_KEY)

    events = ChargerEvent.objects.filter(kind=ChargerEvent.Kind.SECURITY).order_by("id")
    assert [(e.name, e.value) for e in events] == [
        ("InvalidMessages", "bad frame"),
        ("TamperDetectionActivated", "door open"),
    ]
    page = browser(operator).get("/chargers/CP-1/").content.decode()
    section = page[
        page.index('id="security-events"') : page.index("</table>", page.index('id="security-events"'))
    ]
    assert "TamperDetectionActivated" in section and "door open" in section and "InvalidMessages" in section
    assert section.count('class="critical"') == 1
    dashboard = browser(operator).get("/dashboard/").content.decode()
    assert 'data-count="security">1<' in dashboard
    assert "Critical security event: TamperDetectionActivated" in dashboard
    assert dashboard.count('class="dash-security') == 1  # CP-2 has nothing raised


def test_it_lets_a_critical_event_fall_from_the_dashboard_after_a_day(db, operator, time_machine):
    charger = register_charger("CP-1")
    time_machine.move_to("2026-11-20T10:00:00Z", tick=False)
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.SECURITY,
        name="ResetOrReboot",
        timestamp="2026-11-20T10:00:00Z",
    )
    assert "Critical security event: ResetOrReboot" in browser(operator).get("/dashboard/").content.decode()

    time_machine.move_to("2026-11-21T10:00:01Z", tick=False)

    assert "Critical security event" not in browser(operator).get("/dashboard/").content.decode()


# --- certificates: SignCertificate → CertificateSigned, and the charger's root certificates -----------


def test_it_signs_a_request_naming_the_charger_and_sends_it_the_certificate(ca_csms):
    register_charger("CP-1", password=OLD_KEY)
    key = ec.generate_private_key(ec.SECP256R1())

    async def steps(cp):
        answer = await cp.send(call.SignCertificate(csr=csr_pem("CP-1", key)))
        await eventually(lambda: cp.calls_of("CertificateSigned"), timeout=10)
        return answer, cp.calls_of("CertificateSigned")

    answer, sent = live(ca_csms, steps, password=OLD_KEY)

    assert answer.status == "Accepted"
    chain = x509.load_pem_x509_certificates(sent[0]["certificateChain"].encode())
    assert len(chain) == 1  # the CA is a root: the charger has it already
    certificate = chain[0]
    ca = x509.load_pem_x509_certificate(Path(ca_files()["certificate"]).read_bytes())
    certificate.verify_directly_issued_by(ca)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # what security profile 3's TLS needs
    command = wait_until(
        lambda: Command.objects.filter(action="CertificateSigned", status="accepted").first()
    )
    assert command.source == Command.Source.CSMS and command.requested_by is None


@pytest.mark.parametrize(
    "request_text",
    [csr_pem("CP-2"), csr_pem("CP-1", new_key(1024)), "-----BEGIN CERTIFICATE REQUEST-----\nnonsense"],
    ids=["another charger's name", "a weak key", "no CSR"],
)
def test_it_rejects_a_request_it_may_not_sign(ca_csms, request_text):
    register_charger("CP-1", password=OLD_KEY)

    async def steps(cp):
        answer = await cp.send(call.SignCertificate(csr=request_text))
        await cp.send(call.Heartbeat())  # a CertificateSigned would have been sent before this answer
        return answer, cp.calls_of("CertificateSigned")

    answer, sent = live(ca_csms, steps, password=OLD_KEY)

    assert (answer.status, sent) == ("Rejected", [])
    assert not Command.objects.filter(action="CertificateSigned").exists()


def test_it_rejects_every_request_when_the_site_has_no_ca(csms):
    register_charger("CP-1")

    answer = live(csms, lambda cp: cp.send(call.SignCertificate(csr=csr_pem("CP-1"))))

    assert answer.status == "Rejected"


def test_it_manages_the_chargers_root_certificates_through_the_api(remote_csms, operator):
    register_charger("CP-1")
    hash_data = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "ab12",
        "issuerKeyHash": "cd34",
        "serialNumber": "01",
    }
    operations = [
        ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate", "certificate": "PEM"}),
        ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}),
        ("DeleteCertificate", {"certificateHashData": hash_data}),
        ("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}),
    ]

    client = api(operator)

    async def steps(cp):
        answers = [await orm(post_command, client, action, payload) for action, payload in operations]
        return answers, cp.received

    answers, received = live(remote_csms, steps)

    assert [answer.status_code for answer in answers] == [201] * 4
    assert [answer.json()["status"] for answer in answers] == ["accepted"] * 4
    assert received == operations
    assert answers[1].json()["response"]["certificateHashData"] == [hash_data]


# --- logs and signed firmware, followed by their requestId --------------------------------------------


def test_it_follows_a_security_log_upload_asked_from_the_page(remote_csms, operator):
    register_charger("CP-1")
    form = {"get-log-log_type": "SecurityLog", "get-log-location": "https://logs.example/upload"}

    async def steps(cp):
        await orm(lambda: browser(operator).post("/chargers/CP-1/operate/get-log/", form))
        request = cp.calls_of("GetLog")[0]
        for status in ("Uploading", "Uploaded"):
            await cp.send(call.LogStatusNotification(status=status, request_id=request["requestId"]))
        return request

    request = live(remote_csms, steps)

    command = Command.objects.get(action="GetLog")
    assert request == {
        "logType": "SecurityLog",
        "requestId": command.pk,
        "log": {"remoteLocation": "https://logs.example/upload"},
    }
    assert (command.status, command.progress) == ("accepted", "Uploaded")
    assert Charger.objects.get().diagnostics_status == "Uploaded"
    page = browser(operator).get("/chargers/CP-1/").content.decode()
    row = page[page.index(f'data-request-id="{command.pk}"') :].split("</tr>")[0]
    assert "GetLog (SecurityLog)" in row and "security.log" in row and "Uploaded" in row


def test_it_follows_a_signed_firmware_update_sent_through_the_api(remote_csms, operator):
    register_charger("CP-1")
    firmware = {
        "location": "https://firmware.example/2.2.bin",
        "retrieveDateTime": "2026-11-22T03:00:00.000Z",
        "signingCertificate": "-----BEGIN CERTIFICATE-----",
        "signature": "c2lnbmF0dXJl",
    }

    client = api(operator)

    async def steps(cp):
        answer = await orm(
            post_command, client, "SignedUpdateFirmware", {"firmware": firmware, "requestId": 77}
        )
        for status in ("Downloading", "SignatureVerified", "Installed"):
            await cp.send(call.SignedFirmwareStatusNotification(status=status, request_id=77))
        await cp.send(call.SignedFirmwareStatusNotification(status="Idle", request_id=None))  # names none
        return answer

    answer = live(remote_csms, steps)

    assert answer.status_code == 201 and answer.json()["payload"]["requestId"] == 77
    command = Command.objects.get(action="SignedUpdateFirmware")
    assert command.progress == "Installed"
    assert Charger.objects.get().firmware_status == "Idle"


# --- the CA setting ---------------------------------------------------------------------------------


def test_it_refuses_a_ca_file_it_cannot_read(monkeypatch, tmp_path):
    from csms.settings import envfile

    monkeypatch.setenv("CHARGER_CA_CERTIFICATE", str(tmp_path / "missing.pem"))

    with pytest.raises(ImproperlyConfigured, match="CHARGER_CA_CERTIFICATE"):
        envfile("CHARGER_CA_CERTIFICATE")


def test_it_refuses_a_ca_key_that_is_not_the_certificates(settings, tmp_path):
    other = tmp_path / "other.key"
    other.write_bytes(
        new_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.CHARGER_CA_CERTIFICATE, settings.CHARGER_CA_KEY = Path(ca_files()["certificate"]), other
    certificates.authority.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="not the key of"):
            certificates.authority()
    finally:
        certificates.authority.cache_clear()


def test_it_refuses_a_request_of_another_organisation(settings):
    settings.CHARGER_CERTIFICATE_ORGANIZATION = "Example Charging"

    certificates.checked_request(
        charge_point_id="CP-1", csr_pem=csr_pem("CP-1", organization="Example Charging")
    )
    with pytest.raises(certificates.RefusedRequest, match="organisation"):
        certificates.checked_request(
            charge_point_id="CP-1", csr_pem=csr_pem("CP-1", organization="Mallory Inc")
        )
