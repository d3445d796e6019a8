"""manage.py simulate: a fleet of simulated OCPP 1.6J and 2.0.1 chargers against a CSMS (see stations.simulator)."""

import asyncio
import contextlib
import re
import signal
import sys
import threading
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing import services as billing_services
from billing.money import check_top_up_amount
from rfid.models import IdTag, normalise_id_tag
from stations.models import MAX_CHARGE_POINT_ID_LENGTH, Charger
from stations.simulator import FleetOptions, FleetReport, FleetStats, run_fleet
from stations.simulator.options import PROTOCOL_16, PROTOCOL_CHOICES

DEFAULT_URL = "ws://127.0.0.1:8000/ocpp/"
PROGRESS_EVERY_S = 10.0  # when stdout is not a terminal: one line this often

# FleetOptions field -> the option that sets it, so a ValueError names what the user typed.
OPTION_OF_FIELD = {
    "session_duration": "--session-seconds",
    "idle_gap": "--idle-seconds",
    "heartbeat_interval": "--heartbeat",
    "charging_share": "--charging-share",
    "meter_interval": "--meter-interval",
    "ramp_up": "--ramp-up",
    "id_prefix": "--id-prefix",
    "id_tags": "--id-tag",
    "connectors": "--connectors",
    "chargers": "--chargers",
    "duration": "--duration",
    "urls": "--url",
    "protocol": "--protocol",
}


class Command(BaseCommand):
    help = (
        "Simulate a fleet of OCPP 1.6J or 2.0.1 chargers (or both, --protocol mixed) against a CSMS "
        "(demos, training, load tests): they boot, heartbeat, run charging sessions with meter values, "
        "answer remote commands and reconnect, replaying what they queued while offline. "
        "Runs until --duration or Ctrl-C, then prints a summary."
    )

    def add_arguments(self, parser):
        self._fleet_arguments(parser.add_argument_group("fleet"))
        self._behaviour_arguments(parser.add_argument_group("behaviour"))
        parser.add_argument(
            "--register",
            action="store_true",
            help="first register the chargers (approved; password set to --password, or none) "
            "and the idTags in the database configured by DATABASE_URL",
        )
        parser.add_argument(
            "--prepaid-balance",
            type=Decimal,
            metavar="AMOUNT",
            help="with --register: the idTags are prepaid cards holding AMOUNT (credited once per amount), "
            "so the fleet's sessions move money; default: personal cards that charge for free",
        )

    def _fleet_arguments(self, fleet):
        fleet.add_argument(
            "--url",
            action="append",
            metavar="URL",
            help=f"OCPP endpoint, the charger id is appended (default {DEFAULT_URL}); "
            "repeat for several servers: chargers are spread over them round-robin",
        )
        fleet.add_argument("--chargers", type=int, default=10, metavar="N", help="default 10")
        fleet.add_argument(
            "--protocol",
            choices=PROTOCOL_CHOICES,
            default=PROTOCOL_16,
            help="the OCPP version the chargers speak (default ocpp1.6); mixed: half and half, "
            "the 1st, 3rd, 5th... charger 1.6, the 2nd, 4th... 2.0.1",
        )
        fleet.add_argument("--connectors", type=int, default=2, metavar="N", help="per charger, default 2")
        fleet.add_argument(
            "--ramp-up",
            type=float,
            default=50.0,
            metavar="PER_SECOND",
            help="new connections per second, default 50",
        )
        fleet.add_argument(
            "--id-prefix",
            default="SIM",
            metavar="PREFIX",
            help="charger ids are PREFIX-00001 ... (default SIM)",
        )
        fleet.add_argument(
            "--password", help="HTTP Basic auth password of every charger (security profile 1)"
        )
        fleet.add_argument("--seed", type=int, help="the same seed builds the same fleet and sessions")
        fleet.add_argument(
            "--no-offline-queue",
            action="store_true",
            help="drop transaction messages while offline instead of replaying them",
        )

    def _behaviour_arguments(self, behaviour):
        behaviour.add_argument(
            "--heartbeat",
            type=int,
            metavar="SECONDS",
            help="heartbeat interval (default: what the CSMS answers to BootNotification)",
        )
        behaviour.add_argument(
            "--meter-interval",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="MeterValues while charging, default 60",
        )
        behaviour.add_argument(
            "--charging-share",
            type=float,
            default=0.4,
            metavar="0..1",
            help="share of connectors that run sessions on their own, default 0.4",
        )
        behaviour.add_argument(
            "--session-seconds",
            type=float,
            nargs=2,
            default=(600.0, 3600.0),
            metavar=("MIN", "MAX"),
            help="length of a session, default 600 3600",
        )
        behaviour.add_argument(
            "--idle-seconds",
            type=float,
            nargs=2,
            default=(5.0, 60.0),
            metavar=("MIN", "MAX"),
            help="a connector's pause between sessions, default 5 60",
        )
        behaviour.add_argument(
            "--id-tag",
            action="append",
            metavar="TAG",
            help="idTag drivers present, repeatable (default: one per connector, "
            "<charger id>-<connector>, as the CSMS refuses a tag charging elsewhere)",
        )
        behaviour.add_argument(
            "--duration", type=float, metavar="SECONDS", help="run time (default: until Ctrl-C)"
        )

    def handle(self, *args, **options):
        fleet = fleet_options(options)
        if options["register"]:
            self._register(fleet, options["prepaid_balance"])
        report = asyncio.run(self._run(fleet))
        self.stdout.write("\n".join(report.summary_lines()))
        if report.stats.chargers_accepted == 0:
            raise CommandError(
                f"no charger was accepted by {', '.join(fleet.server_urls())}: is the CSMS "
                "running there, and are the chargers registered (--register)?"
            )

    def _register(self, fleet: FleetOptions, balance: Decimal | None) -> None:
        charger_ids, id_tags = fleet.charger_ids(), fleet.driver_id_tags()
        if len(charger_ids[-1]) > MAX_CHARGE_POINT_ID_LENGTH:
            raise CommandError(
                f"charger id {charger_ids[-1]!r} is over {MAX_CHARGE_POINT_ID_LENGTH} characters"
            )
        register_fleet(charger_ids, fleet.password, id_tags)
        self.stdout.write(f"Registered {len(charger_ids)} chargers and {len(id_tags)} idTags.")
        if balance is not None:
            fund_fleet_cards(id_tags, balance)
            self.stdout.write(f"The idTags are prepaid cards holding {balance}.")

    async def _run(self, fleet: FleetOptions) -> FleetReport:
        stop = asyncio.Event()
        progress = ProgressPrinter(self.stdout)
        with stop_on_signals(asyncio.get_running_loop(), stop):
            try:
                return await run_fleet(fleet, on_progress=progress, stop=stop)
            finally:
                progress.finish()


def fleet_options(options: dict) -> FleetOptions:
    """FleetOptions from the command's options; CommandError names the bad option."""
    urls = options["url"] or [DEFAULT_URL]
    id_tags = options["id_tag"]
    try:
        return FleetOptions(
            url=urls[0],
            urls=urls if len(urls) > 1 else (),
            chargers=options["chargers"],
            connectors=options["connectors"],
            ramp_up=options["ramp_up"],
            id_prefix=options["id_prefix"],
            password=options["password"],
            seed=options["seed"],
            offline_queue=not options["no_offline_queue"],
            heartbeat_interval=options["heartbeat"],
            meter_interval=options["meter_interval"],
            charging_share=options["charging_share"],
            session_duration=tuple(options["session_seconds"]),
            idle_gap=tuple(options["idle_seconds"]),
            id_tags=id_tags or (),
            id_tag_per_connector=not id_tags,
            duration=options["duration"],
            protocol=options["protocol"],
        )
    except ValueError as error:
        raise CommandError(option_names(str(error))) from error


def option_names(message: str) -> str:
    return re.sub(r"\b[a-z]+(?:_[a-z]+)*\b", lambda match: OPTION_OF_FIELD.get(match[0], match[0]), message)


def fund_fleet_cards(id_tags: list[str], balance: Decimal) -> None:
    """Make the fleet's cards prepaid and credit `balance` once per card and amount (a rerun credits nothing)."""
    try:
        check_top_up_amount(balance, billing_services.site_currency())
    except ValueError as problem:
        raise CommandError(f"--prepaid-balance: {problem}") from None
    for id_tag in id_tags:
        card = IdTag.objects.get(id_tag=normalise_id_tag(id_tag))
        if not card.is_prepaid:
            card.mode = IdTag.Mode.PREPAID
            card.save(update_fields=["mode"])
        billing_services.top_up(
            card=card,
            amount=balance,
            method="cash",
            source="simulate",
            idempotency_key=f"simulate:{card.id_tag}:{balance}",
        )


def register_fleet(charger_ids: list[str], password: str | None, id_tags: list[str]) -> None:
    """What `add_charger` and `add_idtag` do, for a whole fleet in one transaction.
    Every charger gets the same password, so it is hashed once."""
    template = Charger()
    template.set_password(password)
    with transaction.atomic():
        for charge_point_id in charger_ids:
            charger, _created = Charger.objects.get_or_create(charge_point_id=charge_point_id)
            charger.approval, charger.password = Charger.Approval.ACCEPTED, template.password
            charger.save(update_fields=["approval", "password"])
        for id_tag in id_tags:
            IdTag.objects.get_or_create(id_tag=normalise_id_tag(id_tag))


class ProgressPrinter:
    """on_progress of run_fleet: a live line on a terminal, a line every 10 s otherwise."""

    def __init__(self, out):
        self.out = out
        self.interactive = out.isatty()
        self.last_printed = time.monotonic()
        self.live = False  # a live line is on the screen

    def __call__(self, stats: FleetStats) -> None:
        if self.interactive:
            self.out.write(f"\r{stats.progress_line()}\x1b[K", ending="")
            self.out.flush()
            self.live = True
        elif time.monotonic() - self.last_printed >= PROGRESS_EVERY_S:
            self.out.write(stats.progress_line())
            self.last_printed = time.monotonic()

    def finish(self) -> None:
        if self.live:
            self.out.write("")  # end the live line
            self.live = False


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event):
    """Ctrl-C / SIGTERM set `stop`, so run_fleet disconnects and returns its report;
    a second one interrupts at once. Previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        yield
        return

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nStopping (again to abort) ...", file=sys.stderr)
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
