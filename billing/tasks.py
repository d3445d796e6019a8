"""The payment flow's jobs (billing.payments), and where they run.

With Redis (REDIS_URL), each job is a Celery task run by a worker, and beat runs the sweep
(csms.settings.CELERY_BEAT_SCHEDULE). On the embedded default (`make run`: no Redis, no worker,
Celery eager) a job must neither block the request or the OCPP frame that caused it nor run in
another process: it runs on this server process's own payment threads, scheduled on its event
loop, so that the commands it sends reach the charger's socket through the in-memory channel
layer (stations.commands waits on that loop). One sweep function, two runners: Celery beat, or
without Redis the server process's own scheduler (csms.scheduler), which also refreshes each
process's budget watch every PAYMENT_SWEEP_SECONDS (csms.settings.SERVER_PROCESS_SCHEDULE).
"""

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from billing import budget, payments, topups, webhooks
from billing import services as billing_services
from billing.gateways import gateway_named
from billing.gateways.base import GatewayError
from billing.models import Payment
from csms import scheduler

logger = logging.getLogger(__name__)
State = Payment.State


@shared_task
def start_payment(payment_id: int) -> None:
    payments.start_payment(payment_id=payment_id)


@shared_task
def stop_payment(payment_id: int) -> None:
    payments.send_stop(payment_id=payment_id)


@shared_task
def collect_payment(payment_id: int) -> None:
    payments.collect(payment_id=payment_id)


@shared_task
def give_back_payment(payment_id: int) -> None:
    payments.finish_giving_back(payment_id=payment_id)


@shared_task
def close_checkout(payment_id: int) -> None:
    payments.close_checkout(payment_id=payment_id)


@shared_task
def sweep_payments() -> dict:
    """Celery beat's schedule (and `manage.py sweep_payments`): finish payments left half-way."""
    done = sweep()
    logger.info("payment sweep moved %s", ", ".join(f"{count} {step}" for step, count in done.items()))
    return done


JOBS = {
    "start": start_payment,
    "stop": stop_payment,
    "collect": collect_payment,
    "give_back": give_back_payment,
    "close_checkout": close_checkout,
}


def soon(job: str, payment_id: int) -> None:
    """Run a job once the current database transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(_dispatch, JOBS[job], payment_id))


def _dispatch(task, *args) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.delay(*args)
    else:
        in_this_process(task, *args)


# The embedded default's runner ---------------------------------------------------------------------

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="payments")
_running: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def in_this_process(function, *args) -> None:
    """On this server's payment threads, never awaited by the caller; right here when this process
    has no server loop (a management command, a test process): the sweep catches what fails."""
    loop = scheduler.server_loop()
    if loop is None or loop.is_closed() or not loop.is_running():
        _run_job(function, *args)
        return
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:  # an OCPP handler (the budget watch): a task, not awaited
        task = loop.create_task(_in_pool(function, *args))
        _running.add(task)
        task.add_done_callback(_running.discard)
    else:  # a request's thread
        asyncio.run_coroutine_threadsafe(_in_pool(function, *args), loop)


async def _in_pool(function, *args) -> None:
    await sync_to_async(_run_job, thread_sensitive=False, executor=_pool)(function, *args)


def _run_job(function, *args) -> None:
    close_old_connections()
    try:
        function(*args)
    except Exception:  # a job that fails is retried by the sweep; it must not take its caller down
        logger.exception("payment job %s%r failed", getattr(function, "name", function), args)
    finally:
        close_old_connections()


def stop_over_budget_soon(payment_id: int) -> None:
    """From the MeterValues handler: the stop at the paid amount, sent from a task of this process."""
    in_this_process(_stop_over_budget, payment_id)


def _stop_over_budget(payment_id: int) -> None:
    payments.stop_over_budget(payment_id=payment_id)


# The sweep: whatever should have moved on and did not ----------------------------------------------------------


def sweep(*, now: datetime | None = None) -> dict:
    """Finish payments left half-way by a restart, a lost webhook, a silent charger or a failed
    gateway call. Run by Celery beat (billing.tasks.sweep_payments) and, without Redis, by the
    server process itself; each step is one of the same conditional transitions, so two sweeps
    at once, or a sweep racing a handler, move nothing twice. Returns how many it touched per step."""
    now = now or timezone.now()
    steps = {
        "checkouts": _sweep_checkouts,
        "starts": _sweep_starts,
        "stops": _sweep_stops,
        "ends": _sweep_ended_sessions,
        "gateway": _sweep_gateway_calls,
        "top_ups": _sweep_top_ups,
    }
    done = {}
    for name, step in steps.items():
        try:
            done[name] = step(now)
        except Exception:  # one broken step must not keep the others from running
            logger.exception("payment sweep: %s failed", name)
    return done


def _sweep_checkouts(now) -> int:
    """Card checkouts: asked about when the webhook is late; closed past PAYMENT_CHECKOUT_TIMEOUT_SECONDS."""
    waiting = Payment.objects.filter(
        state=State.PENDING, created_at__lt=now - payments.CONFIRMATION_CHECK_AFTER
    )
    deadline = now - timedelta(seconds=settings.PAYMENT_CHECKOUT_TIMEOUT_SECONDS)
    for payment in waiting.exclude(gateway_reference=""):
        try:
            webhooks.reconcile(payment=payment, gateway=gateway_named(payment.gateway))
        except GatewayError as problem:
            logger.warning("payment %s: the gateway could not be asked: %s", payment.pk, problem)
    overdue = list(Payment.objects.filter(state=State.PENDING, created_at__lt=deadline))
    for payment in overdue:
        if payment.fail(reason="checkout_expired", at=now):
            payments.close_checkout(payment_id=payment.pk)
    return len(overdue)


def _sweep_starts(now) -> int:
    """Money held but the start never sent (a restart between), or sent and no session in time."""
    timeout = timedelta(seconds=settings.PAYMENT_START_TIMEOUT_SECONDS)
    touched = 0
    for payment in Payment.objects.filter(state=State.HELD, confirmed_at__lt=now - timedelta(seconds=5)):
        touched += 1
        if payment.confirmed_at < now - timeout:
            payments.give_back(payment=payment, reason="no_start")
        else:
            payments.start_payment(payment_id=payment.pk)
    for payment in Payment.objects.filter(state=State.STARTING, start_sent_at__lt=now - timeout):
        touched += payments.give_back(payment=payment, reason="no_start")
    return touched


def _sweep_stops(now) -> int:
    """Sessions that must stop: a stop the charger did not act on, a hold about to lapse."""
    charging = Payment.objects.filter(state=State.CHARGING, transaction__stopped_at__isnull=True)
    again = charging.filter(stop_requested_at__lt=now - payments.STOP_RETRY)
    lapsing = charging.filter(authorization_expires_at__lt=now + payments.EXPIRY_STOP)
    touched = 0
    for payment in (again | lapsing).distinct():
        if payment.mark_stop_requested(at=now, unless_since=now - payments.STOP_RETRY):
            payments.send_stop(payment_id=payment.pk)
            touched += 1
    return touched


def _sweep_ended_sessions(now) -> int:
    """A session stopped but its payment still says charging: the settlement failed (the charger's
    resent stop would retry it; a charger that never resends is covered here)."""
    ended = Payment.objects.filter(state=State.CHARGING, transaction__stopped_at__isnull=False)
    ended = list(ended.select_related("transaction"))
    for payment in ended:
        billing_services.settle_transaction(transaction=payment.transaction)
    return len(ended)


def _sweep_gateway_calls(now) -> int:
    due = Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    waiting = list(Payment.objects.filter(due, state__in=[State.CAPTURING, State.RELEASING]))
    for payment in waiting:
        if payment.state == State.CAPTURING:
            payments.collect(payment_id=payment.pk)
        else:
            payments.finish_giving_back(payment_id=payment.pk)
    return len(waiting)


def _sweep_top_ups(now) -> int:
    """Drivers' online wallet top-ups: asked about when the webhook is late, closed when nobody paid."""
    return topups.sweep(now=now)


def refresh_budgets() -> int:
    """This process's budget watch, rebuilt from the database (after a restart, or a session linked in
    another process): one query per tick, none per frame."""
    charging = Payment.objects.filter(state=State.CHARGING, transaction__stopped_at__isnull=True)
    budgets = {
        payment.transaction_id: payments.budget_of(payment, payment.transaction)
        for payment in charging.select_related("transaction__charger")
    }
    budget.keep_only(budgets)
    return len(budgets)
