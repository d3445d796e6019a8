"""What an OCPP 2.0.1 charger reports that 1.6 has no word for: its transactions as events, its device
model, its events. Plain synchronous functions, as stations.services; the handlers of
stations.gateway.ocpp201 only translate payloads into calls here.

A 2.0.1 charger names its transactions (a string) and reports each as events numbered by seqNo:
Started, Updated…, Ended. Offline, it queues them and replays them later (offline: true), possibly in
another order and more than once. So every event is stored once (TransactionEvent, unique per charger,
transactionId and seqNo: a replay changes nothing), and the session is what the stored events say,
taken in seqNo order, in the same database transaction as the event:
- the first Started, or failing it the first Updated, builds the session (a Transaction like a 1.6
  one, `charger_transaction_id` naming it): its connector is the EVSE id, its start time and meter
  reading are that event's; a Started arriving after Updated ones corrects them while it is open;
- the transaction's first idToken is authorized once by the same decision as a 1.6 start
  (rfid.services.authorize): the session's idTag and the answer, a QR payment linked;
- an Ended closes the session and settles it in one transaction, as a 1.6 StopTransaction does, once
  the Started is known too (or every seqNo before the Ended); an Ended that cannot close a session
  yet is kept as an UnknownTransactionStop for staff, and resolved (deleted) when it does.

That rebuild reads every stored event of the transaction back, so it is kept for what comes out of
order (offline replays, a reconnect). The common case is applied incrementally from a `Progress` the
socket keeps per open transaction: a Started first heard of builds the session from itself alone (its
row and samples written behind, as a 1.6 start has none), an Updated that is the next seqNo and
carries no idToken is answered from memory and written behind (its row and samples, as a 1.6
MeterValues: `written_behind`), and the Ended right after closes the session without reading the
events back (the socket flushed the write-behind first, as for a 1.6 stop).
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import payments as billing_payments
from billing import services as billing_services
from csms.compiled import CompiledInsert, CompiledQuery
from rfid.models import normalise_id_tag
from rfid.services import Authorization
from stations import services
from stations.models import (
    ENERGY_REGISTER,
    Charger,
    ChargerDay,
    ChargerEvent,
    DeviceModelVariable,
    MeterValue,
    Reservation,
    Sample,
    Transaction,
    TransactionEvent,
    UnknownTransactionStop,
)
from stations.ocpp_time import parse_timestamp

logger = logging.getLogger(__name__)

Type = TransactionEvent.Type
BEGIN, END = "Transaction.Begin", "Transaction.End"  # the sampled values' contexts at the two ends


@dataclass(frozen=True)
class EventReport:
    """One TransactionEvent's fields, bounded to the columns by the handler."""

    transaction_id: str
    seq_no: int
    event_type: str
    trigger_reason: str
    timestamp: datetime
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None  # within the EVSE
    id_token: str | None = None  # None: the event carries no idToken
    id_token_type: str = ""
    charging_state: str = ""
    stopped_reason: str = ""
    remote_start_id: int | None = None
    reservation_id: int | None = None  # the reservation this transaction ends, on the event that uses it
    meter_values: list | None = None  # as sent, keys in snake_case


@dataclass(slots=True)
class Progress:
    """An open session whose events up to `seq_no` are applied, its Started among them: enough to apply
    the next event without reading the others back. One per open transaction of a socket
    (stations.gateway.ocpp201), which handles its frames one at a time."""

    session_pk: int
    connector_id: int
    seq_no: int  # the highest seqNo stored (or handed to the write-behind)
    meter_start: int
    id_tag: str
    id_tag_status: str

    def takes_behind(self, report: EventReport) -> bool:
        """The next Updated, without an idToken: its answer depends on nothing durable."""
        return (
            report.event_type == Type.UPDATED
            and report.seq_no == self.seq_no + 1
            and report.id_token is None
            and report.reservation_id is None  # a reservation is used before the answer, as in 1.6
        )


@dataclass(frozen=True)
class EventOutcome:
    session_pk: int | None  # the session the event belongs to, if it has one yet
    authorization: Authorization | None  # the idTokenInfo to answer, when the event carried an idToken
    samples: list[Sample]  # the event's own samples
    progress: Progress | None = None  # how the socket goes on with this transaction; None: forget it
    # The event's row, unsaved: it and the samples are not stored; the socket hands them to the write-behind.
    row_behind: TransactionEvent | None = None


def written_behind(
    *, charger: Charger, report: EventReport, progress: Progress
) -> tuple[TransactionEvent, list[Sample]]:
    """An Updated that `progress.takes_behind`: its row and samples, unsaved, for the write-behind.

    Nothing is read or written here. A replay of it stays a no-op: the write-behind ignores rows
    that break the unique (charger, transactionId, seqNo) and the unique meter sample.
    """
    row = _event_row(charger, report, progress.session_pk)
    samples = samples_of(charger, report.evse_id, report.meter_values, progress.session_pk)
    progress.seq_no = report.seq_no
    return row, samples


def record_transaction_event(
    *, charger: Charger, report: EventReport, progress: Progress | None = None
) -> EventOutcome:
    """Store the event once and bring its session up to date, committed before the answer.

    The common case goes incrementally (`_apply_next`); anything else rebuilds the session from all
    stored events of its transaction. The event and what it changes commit together: if settling
    fails, nothing of the event stays and the charger's resent event tries again, as with a 1.6
    StopTransaction.
    """
    outcome = _apply_next(charger, report, progress)
    return outcome if outcome is not None else _rebuild(charger, report, progress)


def _rebuild(charger: Charger, report: EventReport, progress: Progress | None) -> EventOutcome:
    with transaction.atomic():
        stored = _store(charger, report)
        if stored:
            session, binding, events = _apply(charger, report.transaction_id, stored)
            _reserve(charger, session, report)
            progress = _progress_after(session, events)
        else:  # a replay: the events stored already made the session what it is (and `progress` stays)
            session, binding = _session_of(charger, report.transaction_id), None
            progress = progress if session is not None and session.is_active else None
    samples = samples_of(charger, report.evse_id, report.meter_values, session and session.pk)
    id_tag, status = (session.id_tag, session.id_tag_status) if session else ("", "")
    answer = _answer(charger, report, id_tag, status, binding)
    return EventOutcome(session and session.pk, answer, samples, progress)


def _reserve(charger: Charger, session: Transaction | None, report: EventReport) -> None:
    """A reservationId on an event the rebuild stored (a Started after its Updated ones, or the Updated of
    the card that used it): the session names it, as a 1.6 session does, and the reservation is used.
    The session's first one counts; an event without a session yet (an Ended alone) names none."""
    if session is None or report.reservation_id is None or session.reservation_id is not None:
        return
    session.reservation_id = report.reservation_id
    session.save(update_fields=["reservation_id"])
    _use_reservation(charger, report)


def _progress_after(session: Transaction | None, events: list[TransactionEvent]) -> Progress | None:
    """What a socket may go on from incrementally: an open session whose start is known for good."""
    if session is None or not session.is_active or _first(events, Type.STARTED) is None:
        return None
    return _progress_of(session, max(event.seq_no for event in events))


def _progress_of(session: Transaction, seq_no: int) -> Progress:
    return Progress(
        session_pk=session.pk,
        connector_id=session.connector_id,
        seq_no=seq_no,
        meter_start=session.meter_start,
        id_tag=session.id_tag,
        id_tag_status=session.id_tag_status,
    )


def _event_row(charger: Charger, report: EventReport, session_pk: int | None) -> TransactionEvent:
    return TransactionEvent(
        charger=charger,
        transaction_id=report.transaction_id,
        session_id=session_pk,
        seq_no=report.seq_no,
        event_type=report.event_type,
        trigger_reason=report.trigger_reason,
        timestamp=report.timestamp,
        offline=report.offline,
        evse_id=report.evse_id,
        connector_id=report.connector_id,
        id_token=report.id_token or "",
        id_token_type=report.id_token_type,
        charging_state=report.charging_state,
        stopped_reason=report.stopped_reason,
        remote_start_id=report.remote_start_id,
        meter_values=report.meter_values,
    )


def _store(charger: Charger, report: EventReport) -> TransactionEvent | None:
    row = _event_row(charger, report, None)
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            return row
    except IntegrityError:  # this seqNo of this transaction is stored: a replay
        return None


# Incrementally: the in-order case, without reading the transaction's events back -----------------


class _NotFirst(Exception):
    """Something of the transaction was stored before its Started: the rebuild takes it from there."""


def _apply_next(charger: Charger, report: EventReport, progress: Progress | None) -> EventOutcome | None:
    """A Started first heard of, or the Ended right after what the socket applied; None for the rest.

    Either is undone (None) as soon as anything says the transaction is not where the socket thinks
    (an IntegrityError: stored already, through a resend or another socket): the rebuild answers then.
    """
    if progress is None and report.event_type == Type.STARTED:
        return _open(charger, report)
    if report.reservation_id is not None:  # rare after the Started: the rebuild names the reservation
        return None
    if progress is None or report.seq_no != progress.seq_no + 1:
        return None
    if report.event_type == Type.ENDED:
        return _close_next(charger, report, progress)
    if report.event_type == Type.UPDATED:  # with an idToken: the ones without are written behind
        return _update_next(charger, report, progress)
    return None


def _open(charger: Charger, report: EventReport) -> EventOutcome | None:
    """The session of a Started when nothing else of its transaction is stored, built from it alone:
    its idToken decided as a 1.6 start's idTag (the decision and the session commit together). The
    Started's row and samples are left to the write-behind, as a 1.6 start sends none: the session is
    what the answer depends on (its meter start is taken from the samples here, and pricing reads only
    samples strictly after the start), the row only records the frame."""
    samples = samples_of(charger, report.evse_id, report.meter_values)
    try:
        with transaction.atomic():
            authorization = None
            if report.id_token is not None:
                authorization = services.authorize(
                    charger=charger, id_tag=report.id_token, connector_id=report.evse_id or 0
                )
            session = _started_session(charger, report, samples, authorization)
            if (
                authorization
                and authorization.accepted
                and billing_payments.is_payment_id_tag(session.id_tag)
            ):
                billing_payments.link_session(session=session)  # a QR payment's session: budget watched
    except (IntegrityError, _NotFirst):
        return None
    samples = [sample._replace(transaction_id=session.pk) for sample in samples]
    progress = _progress_of(session, report.seq_no)
    row = _event_row(charger, report, session.pk)
    return EventOutcome(session.pk, authorization, samples, progress, row_behind=row)


def _started_session(charger, report, samples, authorization: Authorization | None) -> Transaction:
    """INSERT: a session of this transactionId stored already (a resent Started, an Updated replayed
    first) breaks its unique constraint; an event of it stored alone (an Ended kept for staff) keeps the
    row out in the same statement, and the rebuild takes it from there (_NotFirst)."""
    readings = _register_wh(samples, BEGIN) or _register_wh(samples)
    started = Transaction(
        charger=charger,
        charger_transaction_id=report.transaction_id,
        connector_id=report.evse_id or 0,
        meter_start=int(min(readings, default=Decimal(0))),
        started_at=report.timestamp,
        id_tag=normalise_id_tag(report.id_token) if authorization else "",
        id_tag_status=authorization.status if authorization else "",
        reservation_id=report.reservation_id,
    )
    session = _INSERT_UNLESS_STORED_ALONE.insert(started, charger.pk, report.transaction_id)
    if session is None:
        raise _NotFirst
    ChargerDay.objects.forget_from(charger_id=charger.pk, moment=session.started_at)  # a late start's days
    _use_reservation(charger, report)
    return session


def _use_reservation(charger: Charger, report: EventReport) -> None:
    """The reservation the event names is used, as a 1.6 StartTransaction's reservationId is, at the
    event's time (services.start_transaction): once, by the conditional UPDATE of Reservation.objects.use.
    Only the event's first storing gets here, so a replay uses nothing."""
    if report.reservation_id is not None:
        Reservation.objects.use(charger=charger, reservation_id=report.reservation_id, at=report.timestamp)


# Every 2.0.1 session start: its INSERT, unless an event of its transaction was stored alone before it,
# in one statement written once per process (the check was an UPDATE of its own: a round trip more
# than a 1.6 start, and most of the difference in their database work).
_INSERT_UNLESS_STORED_ALONE = CompiledInsert(
    Transaction,
    unless=CompiledQuery(
        lambda charger_pk, transaction_id: TransactionEvent.objects.filter(
            charger_id=charger_pk, transaction_id=transaction_id, session__isnull=True
        ).values("pk"),
        -1,
        "(probe transactionId)",
    ),
)


def _update_next(charger: Charger, report: EventReport, progress: Progress) -> EventOutcome | None:
    """The next Updated, with an idToken (the cable came first, or a new tap): stored before its answer,
    which carries the token's idTokenInfo; the session's first token decided once, as in the rebuild."""
    samples = samples_of(charger, report.evse_id, report.meter_values, progress.session_pk)
    binding, id_tag, status = None, progress.id_tag, progress.id_tag_status
    try:
        with transaction.atomic():
            _event_row(charger, report, progress.session_pk).save(force_insert=True)
            MeterValue.objects.store(samples)
            if not (id_tag or status):  # locked: a reconnect may bring another tap on another socket
                session = Transaction.objects.select_for_update().get(pk=progress.session_pk)
                binding = _bind_first_id_token(charger, session, [report])
                id_tag, status = session.id_tag, session.id_tag_status
    except IntegrityError:  # stored already (resent, or through another socket): the rebuild answers it
        return None
    progress.seq_no, progress.id_tag, progress.id_tag_status = report.seq_no, id_tag, status
    answer = _answer(charger, report, id_tag, status, binding)
    return EventOutcome(progress.session_pk, answer, samples, progress)


def _close_next(charger: Charger, report: EventReport, progress: Progress) -> EventOutcome | None:
    """The Ended right after the events applied (its Started among them, so nothing before it can still
    come): stopped and settled once, as a 1.6 StopTransaction, the events written behind already
    stored by the socket's flush. An Ended without a register reading of its own is stopped at the
    highest one stored: the rebuild reads those back (None)."""
    samples = samples_of(charger, report.evse_id, report.meter_values, progress.session_pk)
    readings = _register_wh(samples, END) or _register_wh(samples)
    if not readings:
        return None
    session = Transaction(pk=progress.session_pk, charger=charger)
    try:
        with transaction.atomic():
            _event_row(charger, report, session.pk).save(force_insert=True)
            MeterValue.objects.store(samples)
            if session.stop(
                meter_stop=max(int(max(readings)), progress.meter_start),
                stopped_at=report.timestamp,
                reason=report.stopped_reason or "Local",  # 2.0.1: stoppedReason left out means Local
                id_tag=normalise_id_tag(report.id_token) if report.id_token else "",
                data=None,
            ):
                billing_services.settle_transaction(transaction=session)
    except IntegrityError:  # stored already (resent, or through another socket): the rebuild answers it
        return None
    answer = _answer(charger, report, progress.id_tag, progress.id_tag_status, None)
    return EventOutcome(session.pk, answer, samples)


# Rebuilt from every stored event: out of order, replays, an Updated before its Started --------------


def _session_of(charger: Charger, transaction_id: str) -> Transaction | None:
    return Transaction.objects.filter(charger=charger, charger_transaction_id=transaction_id).first()


def _apply(charger: Charger, transaction_id: str, new: TransactionEvent):
    """(session, the authorization of an idToken bound now, the stored events) once `new` joined them."""
    events = list(
        TransactionEvent.objects.filter(charger=charger, transaction_id=transaction_id).order_by("seq_no")
    )
    opening = _first(events, Type.STARTED) or _first(events, Type.UPDATED)
    if opening is None:
        _keep_unknown_end(charger, _first(events, Type.ENDED))
        return None, None, events
    session, fresh = _built_or_corrected(charger, transaction_id, opening, events, new)
    binding = _bind_first_id_token(charger, session, events)
    _link(charger, session, fresh)
    if (ending := _first(events, Type.ENDED)) is not None and session.is_active:
        _end(charger, session, ending, events)
    return session, binding, events


def _built_or_corrected(charger, transaction_id, opening, events, new) -> tuple[Transaction, list]:
    """The session (locked: a reconnect may bring the next event on another socket) and the events
    whose samples are still to store: all of them for a session built now."""
    session = (
        Transaction.objects.select_for_update()
        .filter(charger=charger, charger_transaction_id=transaction_id)
        .first()
    )
    if session is None:
        return _build(charger, transaction_id, opening, events), events
    _correct_start(charger, session, opening, events)
    return session, [new]


def _link(charger: Charger, session: Transaction, fresh: list[TransactionEvent]) -> None:
    """The events and their samples belong to the session; replayed samples are dropped as in 1.6."""
    unlinked = TransactionEvent.objects.filter(charger=charger, transaction_id=session.charger_transaction_id)
    unlinked.filter(session=None).update(session=session)
    samples = [sample for event in fresh for sample in samples_of(charger, event.evse_id, event.meter_values)]
    MeterValue.objects.store([sample._replace(transaction_id=session.pk) for sample in samples])


def _first(events: list[TransactionEvent], event_type: str) -> TransactionEvent | None:
    return next((event for event in events if event.event_type == event_type), None)


def _build(charger: Charger, transaction_id: str, opening: TransactionEvent, events) -> Transaction:
    """The session of a transaction first heard of: from its Started, or its first Updated."""
    evse_id = next((event.evse_id for event in events if event.evse_id is not None), 0)
    session = Transaction.objects.insert(
        charger=charger,
        charger_transaction_id=transaction_id,
        connector_id=evse_id,
        meter_start=_meter_start(charger, opening, events),
        started_at=_start_time(opening, events),
        id_tag="",
        id_tag_status="",  # until an idToken is known: no card is charging on it
    )
    ChargerDay.objects.forget_from(charger_id=charger.pk, moment=session.started_at)  # a late start's days
    return session


def _start_time(opening: TransactionEvent, events) -> datetime:
    if opening.event_type == Type.STARTED:
        return opening.timestamp
    return min(event.timestamp for event in events)


def _correct_start(charger: Charger, session: Transaction, opening: TransactionEvent, events) -> None:
    """A Started arriving after Updated ones (replayed out of order): its time and reading are the start.
    Once the session is closed it was priced, and money moves once: the late Started is only logged."""
    started_at, meter_start = _start_time(opening, events), _meter_start(charger, opening, events)
    if (started_at, meter_start) == (session.started_at, session.meter_start):
        return
    if not session.is_active:
        logger.warning(
            "%s: start of closed transaction %s corrected too late", session.charger_id, session.pk
        )
        return
    session.started_at, session.meter_start = started_at, meter_start
    session.save(update_fields=["started_at", "meter_start"])
    ChargerDay.objects.forget_from(charger_id=charger.pk, moment=started_at)


def _bind_first_id_token(charger: Charger, session: Transaction, events) -> Authorization | None:
    """The transaction's first idToken (in seqNo order), decided once as a 1.6 start's idTag is."""
    if session.id_tag or session.id_tag_status:
        return None
    token_event = next((event for event in events if event.id_token), None)
    if token_event is None:
        return None
    authorization = services.authorize(
        charger=charger, id_tag=token_event.id_token, connector_id=session.connector_id
    )
    session.id_tag, session.id_tag_status = normalise_id_tag(token_event.id_token), authorization.status
    session.save(update_fields=["id_tag", "id_tag_status"])
    if authorization.accepted and billing_payments.is_payment_id_tag(session.id_tag):
        billing_payments.link_session(session=session)  # a QR payment's session: linked, budget watched
    return authorization


def _end(charger: Charger, session: Transaction, ending: TransactionEvent, events) -> None:
    """Close the session once nothing before its Ended can still come; until then staff see the stop."""
    if not _complete(events, ending):
        _keep_unknown_end(charger, ending)
        return
    _close(charger, session, ending, events)
    UnknownTransactionStop.objects.filter(
        charger=charger, charger_transaction_id=ending.transaction_id
    ).delete()


def _complete(events: list[TransactionEvent], ending: TransactionEvent) -> bool:
    """Its Started is here, or every seqNo from 0 to the Ended's: what is priced then is all there is.
    (A replayed queue may bring the Started after the Ended; settling before it would price the wrong start.)"""
    seq_nos = {event.seq_no for event in events}
    return _first(events, Type.STARTED) is not None or seq_nos.issuperset(range(ending.seq_no + 1))


def _close(charger: Charger, session: Transaction, ending: TransactionEvent, events) -> None:
    """The Ended's stop, as a 1.6 StopTransaction's: stopped once, then priced and settled once."""
    if session.stop(
        meter_stop=_meter_stop(charger, session, ending, events),
        stopped_at=ending.timestamp,
        reason=ending.stopped_reason or "Local",  # 2.0.1: stoppedReason left out means Local
        id_tag=normalise_id_tag(ending.id_token) if ending.id_token else "",
        data=None,
    ):
        billing_services.settle_transaction(transaction=session)


def _keep_unknown_end(charger: Charger, ending: TransactionEvent) -> None:
    """An Ended of a transaction we know nothing else of: kept for staff, like a 1.6 unknown stop."""
    logger.warning("charger %s ended unknown transaction %s", charger.charge_point_id, ending.transaction_id)
    readings = _register_wh(samples_of(charger, ending.evse_id, ending.meter_values))
    UnknownTransactionStop.objects.get_or_create(
        charger=charger,
        charger_transaction_id=ending.transaction_id,
        defaults={
            "meter_stop": int(max(readings, default=0)),
            "timestamp": ending.timestamp,
            "reason": ending.stopped_reason or "Local",
            "id_tag": normalise_id_tag(ending.id_token),
            "transaction_data": ending.meter_values,
        },
    )


def _answer(charger: Charger, report: EventReport, id_tag: str, status: str, binding) -> Authorization | None:
    """idTokenInfo for an event with an idToken: the decision just made on it, the session's earlier
    one (its idTag and status), or, for another token (a stop's), the decision of a 1.6 stop's idTag."""
    if report.id_token is None:
        return None
    token = normalise_id_tag(report.id_token)
    if binding is not None and token == id_tag:
        return binding
    if id_tag and token == id_tag:
        return Authorization(status)
    return services.authorize(charger=charger, id_tag=report.id_token, for_stop=True)


# Meter values ---------------------------------------------------------------------------------


def samples_of(
    charger: Charger, evse_id: int | None, meter_values: list | None, session_pk: int | None = None
) -> list[Sample]:
    """2.0.1 MeterValue[] (snake_case keys) as rows: the EVSE is the connector, kilo units scaled by
    unitOfMeasure's multiplier into numeric_value; the value as sent is kept as text."""
    rows = []
    for meter_value in meter_values or []:
        timestamp = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampled_value"]:
            rows.append(_sample_row(charger, evse_id or 0, session_pk, timestamp, sampled))
    return rows


def _sample_row(charger, connector_id, session_pk, timestamp, sampled: dict) -> Sample:
    unit = sampled.get("unit_of_measure") or {}
    number = MeterValue.parse_number(str(sampled["value"]))
    return Sample(
        charger_id=charger.pk,
        connector_id=connector_id,
        transaction_id=session_pk,
        timestamp=timestamp,
        value=str(sampled["value"]),
        numeric_value=None
        if number is None
        else MeterValue.parse_number(number.scaleb(unit.get("multiplier", 0))),
        measurand=sampled.get("measurand", ENERGY_REGISTER),
        phase=sampled.get("phase", ""),
        unit=unit.get("unit", "Wh")[:12],
        context=sampled.get("context", "Sample.Periodic"),
        location=sampled.get("location", "Outlet"),
        format="SignedData" if sampled.get("signed_meter_value") else "Raw",
    )


def _register_wh(samples: list[Sample], context: str | None = None) -> list[Decimal]:
    """The energy register's readings in Wh (of one context, if given)."""
    return [
        sample.numeric_value * (1000 if sample.unit.lower() == "kwh" else 1)
        for sample in samples
        if sample.measurand == ENERGY_REGISTER
        and not sample.phase
        and sample.numeric_value is not None
        and context in (None, sample.context)
    ]


def _meter_start(charger: Charger, opening: TransactionEvent, events) -> int:
    """The opening event's register reading (its Transaction.Begin one first), else the lowest seen."""
    own = samples_of(charger, opening.evse_id, opening.meter_values)
    readings = _register_wh(own, BEGIN) or _register_wh(own)
    if not readings:
        readings = [min(_register_wh(_all_samples(charger, events)), default=Decimal(0))]
    return int(min(readings))


def _meter_stop(charger: Charger, session: Transaction, ending: TransactionEvent, events) -> int:
    """The Ended's register reading (its Transaction.End one first), else the highest seen."""
    own = samples_of(charger, ending.evse_id, ending.meter_values)
    readings = _register_wh(own, END) or _register_wh(own) or _register_wh(_all_samples(charger, events))
    return max(int(max(readings, default=session.meter_start)), session.meter_start)


def _all_samples(charger: Charger, events) -> list[Sample]:
    return [sample for event in events for sample in samples_of(charger, event.evse_id, event.meter_values)]


# The device model and the charger's own events ----------------------------------------------------


def record_report(*, charger: Charger, report_data: list[dict]) -> int:
    """A NotifyReport's part: each attribute's latest value upserted; returns how many rows."""
    now = timezone.now()
    rows = {}
    for item in report_data:
        for attribute in item["variable_attribute"]:
            row = _device_variable(charger, item, attribute, now)
            rows[tuple(getattr(row, field) for field in DeviceModelVariable.KEY[1:])] = (
                row  # the last one wins
            )
    DeviceModelVariable.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=DeviceModelVariable.KEY,
        update_fields=["value", "mutability", "characteristics", "updated_at"],
    )
    return len(rows)


def _device_variable(charger, item: dict, attribute: dict, now) -> DeviceModelVariable:
    component, variable = item["component"], item["variable"]
    evse = component.get("evse") or {}
    return DeviceModelVariable(
        charger=charger,
        component=component["name"],
        component_instance=component.get("instance", ""),
        evse_id=evse.get("id", 0),
        evse_connector_id=evse.get("connector_id", 0),
        variable=variable["name"],
        variable_instance=variable.get("instance", ""),
        attribute_type=attribute.get("type", "Actual"),
        value=attribute.get("value", ""),
        mutability=attribute.get("mutability", ""),
        characteristics=item.get("variable_characteristics"),
        updated_at=now,
    )


def record_variable_values(*, charger: Charger, results: list[dict]) -> None:
    """Values a GetVariables or SetVariables told (OCPP camelCase: component, variable, attributeType,
    attributeValue), into the device model; what else NotifyReport said of them stays."""
    now = timezone.now()
    rows = {}
    for result in results:
        component, variable = result["component"], result["variable"]
        evse = component.get("evse") or {}
        row = DeviceModelVariable(
            charger=charger,
            component=component["name"],
            component_instance=component.get("instance", ""),
            evse_id=evse.get("id", 0),
            evse_connector_id=evse.get("connectorId", 0),
            variable=variable["name"],
            variable_instance=variable.get("instance", ""),
            attribute_type=result.get("attributeType", "Actual"),
            value=result["attributeValue"],
            updated_at=now,
        )
        rows[tuple(getattr(row, field) for field in DeviceModelVariable.KEY[1:])] = row
    DeviceModelVariable.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=DeviceModelVariable.KEY,
        update_fields=["value", "updated_at"],
    )


def record_events(*, charger: Charger, event_data: list[dict]) -> None:
    """A NotifyEvent's events, one row each."""
    ChargerEvent.objects.bulk_create(
        [
            ChargerEvent(
                charger=charger,
                kind=ChargerEvent.Kind.EVENT,
                timestamp=parse_timestamp(event["timestamp"]),
                name=event["trigger"],
                component=event["component"]["name"],
                variable=event["variable"]["name"],
                value=event.get("actual_value", ""),
                data=event,
            )
            for event in event_data
        ]
    )


def record_security_event(*, charger: Charger, event_type: str, timestamp: datetime, tech_info: str) -> None:
    ChargerEvent.objects.create(
        charger=charger,
        kind=ChargerEvent.Kind.SECURITY,
        timestamp=timestamp,
        name=event_type[:50],
        value=tech_info,
    )
