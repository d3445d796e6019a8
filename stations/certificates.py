"""The CA that signs chargers' certificate signing requests (OCPP 1.6 security whitepaper, edition 3).

A charger sends SignCertificate with a CSR (PEM). It is answered Accepted only when the site has a CA
(CHARGER_CA_CERTIFICATE, CHARGER_CA_KEY), the CSR's signature holds, its subject names the charger as
security profile 3 checks it (CN = the charge point id; O = CHARGER_CERTIFICATE_ORGANIZATION when set)
and its key is strong enough; then, after that answer, the CSMS sends CertificateSigned with the new
certificate (and the CA's, when the CA is not a root the charger already holds) as a command of its own.
"""

import datetime
import functools
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from stations import commands
from stations.models import Charger, Command

logger = logging.getLogger(__name__)

MIN_RSA_BITS = 2048  # the whitepaper's minimum key sizes
MIN_EC_BITS = 224
EARLIER_START = datetime.timedelta(minutes=5)  # a charger whose clock runs a little slow accepts it too


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def is_root(self) -> bool:
        return self.certificate.issuer == self.certificate.subject


class RefusedRequest(ValueError):
    """Why a CSR is not signed, in words for the log."""


@functools.cache
def authority() -> Authority | None:
    """The site's CA from the settings, read once per process; None when none is configured."""
    if settings.CHARGER_CA_CERTIFICATE is None:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(settings.CHARGER_CA_CERTIFICATE.read_bytes())
        key = serialization.load_pem_private_key(settings.CHARGER_CA_KEY.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as problem:
        raise ImproperlyConfigured(f"CHARGER_CA_CERTIFICATE / CHARGER_CA_KEY: {problem}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ImproperlyConfigured("CHARGER_CA_KEY: an RSA or elliptic-curve key is needed")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():
        raise ImproperlyConfigured("CHARGER_CA_KEY is not the key of CHARGER_CA_CERTIFICATE")
    return Authority(certificate, key)


def checked_request(*, charge_point_id: str, csr_pem: str) -> x509.CertificateSigningRequest:
    """The CSR, if it may be signed for this charger; raises RefusedRequest saying why not."""
    try:
        request = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise RefusedRequest("not a PEM certificate signing request") from None
    if not request.is_signature_valid:
        raise RefusedRequest("its signature does not hold")
    _check_subject(request.subject, charge_point_id)
    _check_key(request.public_key())
    return request


def _check_subject(subject: x509.Name, charge_point_id: str) -> None:
    names = [attribute.value for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [charge_point_id]:
        raise RefusedRequest(f"its CN {names!r} is not the charge point id {charge_point_id!r}")
    organization = settings.CHARGER_CERTIFICATE_ORGANIZATION
    given = [attribute.value for attribute in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if organization and given != [organization]:
        raise RefusedRequest(f"its organisation {given!r} is not {organization!r}")


def _check_key(public_key) -> None:
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size >= MIN_EC_BITS:
        return
    raise RefusedRequest(f"its key is not RSA of {MIN_RSA_BITS}+ bits nor elliptic-curve of {MIN_EC_BITS}+")


def sign(request: x509.CertificateSigningRequest, ca: Authority) -> str:
    """The charger's certificate chain (PEM): its certificate, then the CA's unless the CA is a root."""
    now = datetime.datetime.now(datetime.UTC)
    not_after = min(
        now + datetime.timedelta(days=settings.CHARGER_CERTIFICATE_DAYS), ca.certificate.not_valid_after_utc
    )
    public_key = request.public_key()
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=is_rsa,
        key_agreement=not is_rsa,
        content_commitment=False,
        data_encipherment=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - EARLIER_START)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    chain = [certificate] if ca.is_root else [certificate, ca.certificate]
    return "".join(part.public_bytes(serialization.Encoding.PEM).decode() for part in chain)


def answer_signing_request(*, charger: Charger, csr: str) -> str | None:
    """SignCertificate: the chain to send in CertificateSigned, or None (answer Rejected), logged why."""
    ca = authority()
    if ca is None:
        logger.warning(
            "%s asked for a certificate: no CA is configured (CHARGER_CA_CERTIFICATE)",
            charger.charge_point_id,
        )
        return None
    try:
        request = checked_request(charge_point_id=charger.charge_point_id, csr_pem=csr)
    except RefusedRequest as refused:
        logger.warning("%s's certificate signing request refused: %s", charger.charge_point_id, refused)
        return None
    return sign(request, ca)


def send_signed_certificate(*, charger_id: int, chain: str) -> Command:
    """CertificateSigned to the charger, a command like any other (stored, in its history)."""
    charger = Charger.objects.get(pk=charger_id)
    return commands.send(
        charger=charger,
        action="CertificateSigned",
        payload={"certificateChain": chain},
        source=Command.Source.CSMS,
    )
