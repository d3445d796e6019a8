"""What happens when a charger reports something: plain synchronous functions,
tested without any socket. The OCPP handlers only translate payloads into calls here.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import payments as billing_payments
from billing import services as billing_services
from billing.models import SessionCharge
from csms.compiled import CompiledQuery
from csms.throttle import FailureWindow, Spacing
from rfid import services as rfid_services
from rfid.models import IdTag, normalise_id_tag
from rfid.services import Authorization
from stations.models import (
    MAX_CHARGE_POINT_ID_LENGTH,
    Charger,
    ChargerDay,
    ConnectionAttempt,
    DataTransferMessage,
    MeterValue,
    Reservation,
    SiteConfiguration,
    Transaction,
    UnknownTransactionStop,
    storable_text,
)

logger = logging.getLogger(__name__)

# The OCPP-J subprotocols /ocpp/<id> speaks; the charger's order of preference decides among them.
SUPPORTED_SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")


@dataclass(frozen=True)
class Admission:
    charger: Charger | None
    outcome: str  # a ConnectionAttempt.Outcome
    attempt: ConnectionAttempt | None = None  # the record of it, unsaved: it is written behind
    # (process address, connection id) of the charger's previous socket, if it still looked open
    replaces: tuple[str, str] | None = None

    @property
    def admitted(self) -> bool:
        return self.charger is not None


def choose_subprotocol(offered: list[str]) -> str | None:
    """The first OCPP version we speak, in the charger's order of preference."""
    return next((p for p in offered if p in SUPPORTED_SUBPROTOCOLS), None)


def ocpp_version(offered: list[str]) -> str:
    """ "1.6" or "2.0.1": the version of the subprotocol we chose (what Charger.ocpp_version stores)."""
    return (choose_subprotocol(offered) or "").removeprefix("ocpp")


def admit_charger(
    *,
    charge_point_id: str,
    username: str | None,
    password: str | None,
    remote_address: str,
    offered: list[str],
    connection_id: str,
    channel_name: str,
    secure: bool = False,
    certificate_name: str | None = None,
) -> Admission:
    """Decide at the handshake whether this charger may connect; if so, make this socket its live one.

    One database visit per handshake: the decision, and the connection mark
    (`channel_name` is the address of this server process, stations.gateway.mailbox);
    the old socket (if any) is told about. The attempt is returned unsaved.
    `secure` and `certificate_name` say how the socket came (Charger.accepts_transport).
    """
    transport = Transport(secure=secure, certificate_name=certificate_name)
    admission = _decide_admission(charge_point_id, username, password, offered, remote_address, transport)
    attempt = ConnectionAttempt(
        charge_point_id=storable_text(charge_point_id)[:255],
        remote_address=remote_address[:64],
        subprotocols=",".join(offered)[:100],
        outcome=admission.outcome,
    )
    if not admission.admitted:
        logger.warning("refused charger %r from %s: %s", charge_point_id, remote_address, admission.outcome)
        return replace(admission, attempt=attempt)
    charger = admission.charger
    previous = (charger.channel_name, charger.connection_id) if charger.is_connected else None
    charger.mark_connected(
        connection_id=connection_id,
        channel_name=channel_name,
        ocpp_version=ocpp_version(offered),
        remote_address=remote_address,
    )
    return replace(admission, attempt=attempt, replaces=previous)


@dataclass(frozen=True)
class Transport:
    """How a handshake reached us: over TLS (wss://), and with which verified client certificate."""

    secure: bool = False
    certificate_name: str | None = None  # the subject CN the TLS proxy verified (security profile 3)


def _decide_admission(
    charge_point_id: str,
    username: str | None,
    password: str | None,
    offered: list[str],
    remote_address: str,
    transport: Transport,
) -> Admission:
    Outcome = ConnectionAttempt.Outcome
    if choose_subprotocol(offered) is None:
        return Admission(None, Outcome.NO_SUBPROTOCOL)
    if not is_valid_charge_point_id(charge_point_id):  # no charger has such an id: not even a lookup
        _note_failure(charge_point_id, remote_address)
        return Admission(None, Outcome.UNKNOWN)
    charger = _CHARGER_OF_ID.first(charge_point_id)
    if _throttled(charge_point_id, remote_address, charger):
        return Admission(None, Outcome.THROTTLED)
    if charger is None:
        return _admit_unknown(charge_point_id, remote_address)
    # Before the password: one sent over plain ws:// for a wss:// charger is never checked (nor guessed at).
    if not charger.accepts_transport(secure=transport.secure, certificate_name=transport.certificate_name):
        return Admission(None, Outcome.NO_CERTIFICATE if transport.secure else Outcome.INSECURE)
    if not _credentials_match(charger, username, password):
        _note_failure(charge_point_id, remote_address)
        return Admission(None, Outcome.BAD_PASSWORD)
    if charger.approval == Charger.Approval.REJECTED:
        return Admission(None, Outcome.REJECTED)
    if charger.approval == Charger.Approval.PENDING:
        return Admission(charger, Outcome.PENDING)
    return Admission(charger, Outcome.ACCEPTED)


# Every handshake reads its charger first: its SQL written once (csms.compiled).
_CHARGER_OF_ID = CompiledQuery(
    lambda charge_point_id: Charger.objects.filter(charge_point_id=charge_point_id).order_by(), "(probe)"
)


def _credentials_match(charger: Charger, username: str | None, password: str | None) -> bool:
    """OCPP security profile 1: HTTP Basic with the charge point id as user name and the charger's password."""
    if not charger.password:
        return True  # registered without a password: it connects without credentials
    return username == charger.charge_point_id and charger.check_password(password)


# Failed handshakes over five minutes, per (charger, address), per address and per charger id. Past a
# limit, attempts are refused without a password check. A charger's own last accepted address is exempt
# from the wider two, and past the first it still gets one password check every few seconds: a guesser
# sharing its address (the same carrier NAT) is slowed to that pace but can never lock the charger out.
HANDSHAKE_FAILURES = FailureWindow(window_s=300)
PAIR_LIMIT, ADDRESS_LIMIT, CHARGER_LIMIT = 10, 100, 30
OWN_ADDRESS_CHECKS = Spacing(every_s=5)


def _throttled(charge_point_id: str, remote_address: str, charger: Charger | None) -> bool:
    own_address = charger is not None and charger.is_approved and charger.remote_address == remote_address
    if HANDSHAKE_FAILURES.count(("pair", charge_point_id, remote_address)) >= PAIR_LIMIT:
        return not (own_address and OWN_ADDRESS_CHECKS.allow(charge_point_id))
    if own_address:
        return False
    return (
        HANDSHAKE_FAILURES.count(("address", remote_address)) >= ADDRESS_LIMIT
        or HANDSHAKE_FAILURES.count(("charger", charge_point_id)) >= CHARGER_LIMIT
    )


def _note_failure(charge_point_id: str, remote_address: str) -> None:
    for key in (
        ("pair", charge_point_id, remote_address),
        ("address", remote_address),
        ("charger", charge_point_id),
    ):
        HANDSHAKE_FAILURES.failed(key)


def is_valid_charge_point_id(charge_point_id: str) -> bool:
    """1 to 48 printable characters (OCPP's CiString48; no control characters, no NUL)."""
    return 0 < len(charge_point_id) <= MAX_CHARGE_POINT_ID_LENGTH and charge_point_id.isprintable()


def _admit_unknown(charge_point_id: str, remote_address: str) -> Admission:
    if not SiteConfiguration.load().accept_unknown_chargers:
        _note_failure(charge_point_id, remote_address)
        return Admission(None, ConnectionAttempt.Outcome.UNKNOWN)
    charger, _ = Charger.objects.get_or_create(
        charge_point_id=charge_point_id, defaults={"approval": Charger.Approval.PENDING}
    )
    return Admission(charger, ConnectionAttempt.Outcome.PENDING)


def record_boot(*, charger: Charger, **identity: str) -> str:
    """Store what the charger says about itself; answer Accepted or Pending.

    A boot ends whatever the charger had running (after a power failure its StopTransaction, if it
    kept one, comes after the boot): its open sessions are flagged at once, not at the next run of
    housekeeping.flag_open_sessions, so their cards are free again (rfid.services) and staff see them.
    """
    booted_at = timezone.now()
    charger.note_boot(at=booted_at, **identity)
    Transaction.flag_opened_before(
        charger_id=charger.pk, before=booted_at, reason=Transaction.Flag.CHARGER_REBOOTED
    )
    return "Accepted" if charger.is_approved else "Pending"


def authorize(
    *,
    charger: Charger,
    id_tag: str,
    for_stop: bool = False,
    connector_id: int | None = None,
    card_read: IdTag | None = None,
) -> Authorization:
    return rfid_services.authorize(
        id_tag=id_tag, charger=charger, for_stop=for_stop, connector_id=connector_id, card_read=card_read
    )


def start_transaction(
    *,
    charger: Charger,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None,
) -> tuple[Transaction, Authorization]:
    """Record a session start, once: a resent StartTransaction gets the same transactionId.

    The session is recorded even when the idTag is refused: the charger has
    already started it and will stop it on our answer. The decision (with its
    refusal record) and the session commit together; a resent start breaks
    the unique start constraint, so nothing of it stays and the first
    session's answer is given again. The common case costs no lookup first.
    """
    try:
        with transaction.atomic():
            authorization = authorize(charger=charger, id_tag=id_tag, connector_id=connector_id)
            started = Transaction.objects.insert(
                charger=charger,
                connector_id=connector_id,
                id_tag=normalise_id_tag(id_tag),
                meter_start=meter_start,
                started_at=timestamp,
                reservation_id=reservation_id,
                id_tag_status=authorization.status,
            )
            ChargerDay.objects.forget_from(
                charger_id=charger.pk, moment=timestamp
            )  # a late start: its days again
            if reservation_id is not None:
                Reservation.objects.use(charger=charger, reservation_id=reservation_id, at=timestamp)
            if authorization.accepted and billing_payments.is_payment_id_tag(started.id_tag):
                billing_payments.link_session(
                    session=started
                )  # a QR payment's session: linked, budget watched
        return started, authorization
    except IntegrityError:  # resent, or the same start arrived on another socket at the same moment
        earlier = _find_start(charger, connector_id, timestamp, meter_start)
        if earlier is None:
            raise
        return earlier, Authorization(earlier.id_tag_status)


def _find_start(charger, connector_id, timestamp, meter_start) -> Transaction | None:
    return Transaction.objects.filter(
        charger=charger, connector_id=connector_id, started_at=timestamp, meter_start=meter_start
    ).first()


def stop_transaction(
    *,
    charger: Charger,
    transaction_id: int,
    meter_stop: int,
    timestamp: datetime,
    reason: str,
    id_tag: str,
    transaction_data: list | None,
    samples: list[MeterValue],
) -> Authorization | None:
    """Record a session stop; a repeated stop changes nothing, an unknown one is kept for staff."""
    session = _SESSION_OF_CHARGER.first(transaction_id, charger.pk)
    charge = None
    if session is None:
        _record_unknown_stop(charger, transaction_id, meter_stop, timestamp, reason, id_tag, transaction_data)
    else:
        session.charger = charger  # the row it was read with: settling needs no query for it
        charge = _close_session(session, samples, meter_stop, timestamp, reason, id_tag, transaction_data)
    if not id_tag:
        return None
    return authorize(charger=charger, id_tag=id_tag, for_stop=True, card_read=_card_settled(charge, id_tag))


# Every StopTransaction reads its session first: its SQL written once (csms.compiled).
_SESSION_OF_CHARGER = CompiledQuery(
    lambda pk, charger_pk: Transaction.objects.filter(pk=pk, charger_id=charger_pk).order_by(), -1, -2
)


def _card_settled(charge: SessionCharge | None, id_tag: str) -> IdTag | None:
    """The card the settlement just read, when the stop names the session's own card (as it mostly does)."""
    card = charge.card if charge is not None else None
    return card if card is not None and card.id_tag == normalise_id_tag(id_tag) else None


@transaction.atomic
def _close_session(
    session, samples, meter_stop, timestamp, reason, id_tag, transaction_data
) -> SessionCharge | None:
    """Stop, store the final samples and settle the bill in one transaction.

    If settling fails, nothing is committed and the charger's resent
    StopTransaction tries again; a stop that committed is always billed.
    """
    MeterValue.objects.store(
        [sample._replace(transaction_id=session.pk, connector_id=session.connector_id) for sample in samples]
    )
    stop_id_tag = normalise_id_tag(id_tag) if id_tag else ""
    if not session.stop(
        meter_stop=meter_stop, stopped_at=timestamp, reason=reason, id_tag=stop_id_tag, data=transaction_data
    ):
        return None
    return billing_services.settle_transaction(transaction=session, just_stopped=True)


def _record_unknown_stop(charger, transaction_id, meter_stop, timestamp, reason, id_tag, data) -> None:
    logger.warning("charger %s stopped unknown transaction %s", charger.charge_point_id, transaction_id)
    UnknownTransactionStop.objects.get_or_create(
        charger=charger,
        transaction_id=transaction_id,
        timestamp=timestamp,
        meter_stop=meter_stop,
        defaults={"reason": reason, "id_tag": id_tag, "transaction_data": data},
    )


# A 2.0.1 ReservationStatusUpdate's reservationUpdateStatus -> the state 1.6's flows give that reservation.
RESERVATION_ENDINGS = {"Expired": Reservation.Status.EXPIRED, "Removed": Reservation.Status.CANCELLED}


def record_reservation_update(*, charger: Charger, reservation_id: int, update_status: str) -> None:
    """The charger ended a reservation itself (OCPP 2.0.1 ReservationStatusUpdate): an open one of this
    charger becomes expired or cancelled; one used, cancelled or expired already stays so. An id this
    charger never had is only logged: nothing is kept for it."""
    ending = RESERVATION_ENDINGS[update_status]
    if Reservation.objects.end(charger=charger, reservation_id=reservation_id, status=ending):
        return
    if not Reservation.objects.filter(pk=reservation_id, charger=charger).exists():
        logger.warning(
            "charger %s reported %s for unknown reservation %s",
            charger.charge_point_id,
            update_status,
            reservation_id,
        )


def record_data_transfer(*, charger: Charger, vendor_id: str, message_id: str, data: str) -> None:
    DataTransferMessage.objects.create(charger=charger, vendor_id=vendor_id, message_id=message_id, data=data)


def record_firmware_status(*, charger: Charger, status: str) -> None:
    Charger.objects.filter(pk=charger.pk).update(firmware_status=status, firmware_status_at=timezone.now())


def record_diagnostics_status(*, charger: Charger, status: str) -> None:
    Charger.objects.filter(pk=charger.pk).update(
        diagnostics_status=status, diagnostics_status_at=timezone.now()
    )


def heartbeat_interval() -> int:
    return settings.OCPP_HEARTBEAT_INTERVAL
