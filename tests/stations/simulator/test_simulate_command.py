"""`manage.py simulate`: a simulated fleet against the real server, judged by what the CSMS stored."""

import signal
import subprocess
import sys
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command

from rfid.models import IdTag
from stations.models import Charger, MeterValue, StatusNotification, Transaction
from stations.simulator.messages import VENDOR
from tests.conftest import ROOT, free_port, server_env
from tests.ocpp_client import wait_until

ENERGY = "Energy.Active.Import.Register"


def simulate(*args) -> str:
    out = StringIO()
    call_command("simulate", *args, stdout=out)
    return out.getvalue()


def sessions_settled() -> bool:
    """The server stores with write-behind: wait until every started session has its meter values."""
    transactions = Transaction.objects.all()
    return transactions.exists() and all(t.meter_values.exists() for t in transactions)


def energy_registers(charger: Charger, connector_id: int) -> list:
    rows = MeterValue.objects.filter(charger=charger, connector_id=connector_id, measurand=ENERGY)
    return [row.numeric_value for row in rows.order_by("timestamp", "id")]


def test_it_runs_a_registered_fleet_that_boots_charges_and_meters(csms):
    output = simulate(
        "--url",
        csms.ws_url,
        "--chargers",
        "3",
        "--register",
        "--duration",
        "6",
        "--meter-interval",
        "1",
        "--charging-share",
        "1",
        "--session-seconds",
        "2",
        "3",
        "--idle-seconds",
        "0",
        "1",
        "--seed",
        "7",
        "--ramp-up",
        "100",
    )

    assert "Registered 3 chargers and 6 idTags." in output
    assert "Fleet: 3 chargers against" in output and "3 chargers accepted" in output
    assert IdTag.objects.filter(id_tag="SIM-00003-2").exists()
    assert wait_until(sessions_settled)
    chargers = list(Charger.objects.filter(charge_point_id__startswith="SIM-"))
    assert [c.charge_point_id for c in chargers] == ["SIM-00001", "SIM-00002", "SIM-00003"]
    assert all(c.last_boot_at is not None and c.vendor == VENDOR for c in chargers)
    assert all(StatusNotification.objects.filter(charger=c).exists() for c in chargers)
    assert MeterValue.objects.filter(transaction__isnull=False, measurand=ENERGY).exists()
    assert Transaction.objects.filter(stopped_at__isnull=False).exists()  # 2-3 s sessions in a 6 s run
    for stopped in Transaction.objects.filter(stopped_at__isnull=False):
        assert stopped.meter_stop >= stopped.meter_start
    for charger in chargers:
        for connector_id in (1, 2):
            registers = energy_registers(charger, connector_id)
            assert all(earlier <= later for earlier, later in pairwise(registers)), registers


# `manage.py simulate` run the way a test can see its SIGINT handler before and after.
SIMULATE_AND_REPORT_HANDLER = """
import os, signal, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
django.setup()
from django.core.management import call_command
handler_before = signal.getsignal(signal.SIGINT)
call_command("simulate", *sys.argv[1:])
print("SIGINT handler restored:", signal.getsignal(signal.SIGINT) is handler_before)
"""


def both_accepted() -> bool:
    """Both chargers reported their last connector, which they do once their boot is accepted:
    the fleet runs, so its Ctrl-C handler is in place."""
    reported = StatusNotification.objects.filter(charger__charge_point_id__startswith="SIM-", connector_id=2)
    return reported.values("charger").distinct().count() == 2


def test_it_stops_on_ctrl_c_and_still_prints_the_summary(csms):
    # An hour's run: within the deadline below it can only end because the Ctrl-C was honoured.
    simulation = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SIMULATE_AND_REPORT_HANDLER,
            "--url",
            csms.ws_url,
            "--chargers",
            "2",
            "--register",
            "--duration",
            "3600",
            "--ramp-up",
            "100",
            "--charging-share",
            "0",
        ],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(both_accepted, timeout=30), "the fleet never got going"
        simulation.send_signal(signal.SIGINT)
        output, errors = simulation.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the fleet ignored Ctrl-C: still running 60 s later")
    finally:
        if simulation.poll() is None:  # Ctrl-C ignored: fail here, not after an hour
            simulation.kill()
            simulation.communicate()

    assert simulation.returncode == 0, errors
    assert "Stopping (again to abort) ..." in errors  # the path taken: our handler set the stop
    assert "Fleet: 2 chargers against" in output and "2 chargers accepted" in output
    assert "SIGINT handler restored: True" in output


def test_it_fails_when_no_charger_gets_through():
    with pytest.raises(CommandError, match="no charger was accepted"):
        simulate("--url", f"ws://127.0.0.1:{free_port()}/ocpp/", "--chargers", "1", "--duration", "1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--charging-share", "2"], "--charging-share must be in"),
        (["--session-seconds", "60", "10"], "--session-seconds must be"),
        (["--url", "http://127.0.0.1:8000/ocpp/"], "is not a ws:// or wss:// URL"),
        (["--chargers", "0"], "--chargers must be >= 1"),
        (["--chargers", "ten"], "invalid int value"),
        (["--id-tag", "X" * 21], "idTags are 1-20 chars"),
        (["--id-prefix", "A-VERY-LONG-PREFIX"], "shorten --id-prefix"),
        (["--duration", "0"], "--duration must be > 0"),
        (["--protocol", "ocpp2.1"], "invalid choice: 'ocpp2.1'"),
    ],
)
def test_it_rejects_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        simulate(*args)


def test_it_ends_its_sessions_when_the_run_ends_so_the_next_run_can_charge(csms):
    from rfid.models import AuthorizationRefusal

    run = (
        "--url",
        csms.ws_url,
        "--chargers",
        "2",
        "--register",
        "--duration",
        "4",
        "--meter-interval",
        "1",
        "--charging-share",
        "1",
        "--session-seconds",
        "600",
        "600",
        "--idle-seconds",
        "0",
        "0.5",
        "--seed",
        "3",
        "--ramp-up",
        "100",
    )

    simulate(*run)

    assert Transaction.objects.exists()
    assert not Transaction.objects.filter(stopped_at__isnull=True).exists(), "sessions left open in the CSMS"

    simulate(*run)

    assert Transaction.objects.count() >= 6
    assert not AuthorizationRefusal.objects.exists(), "the second run's drivers were refused"


def test_it_registers_a_fleet_whose_prepaid_sessions_move_money(csms):
    from decimal import Decimal

    from billing.models import LedgerEntry, SessionCharge
    from tests.billing.builders import default_tariff

    default_tariff(price_per_kwh=Decimal("0.5000"))
    common = [
        "--url",
        csms.ws_url,
        "--chargers",
        "2",
        "--register",
        "--prepaid-balance",
        "20.00",
        "--meter-interval",
        "1",
        "--charging-share",
        "1",
        "--session-seconds",
        "2",
        "3",
        "--idle-seconds",
        "0",
        "1",
        "--seed",
        "7",
        "--ramp-up",
        "100",
    ]

    output = simulate(*common, "--duration", "6")
    simulate(*common, "--duration", "0.5")  # a rerun credits nothing more

    assert "prepaid cards holding 20.00" in output
    cards = IdTag.objects.filter(id_tag__startswith="SIM-")
    assert cards.count() == 4 and all(card.is_prepaid for card in cards)
    assert LedgerEntry.objects.filter(kind="top_up").count() == 4
    assert wait_until(lambda: SessionCharge.objects.filter(charged__gt=0).exists(), 10)
    assert LedgerEntry.objects.filter(kind="session_charge").exists(), "the fleet's sessions took money"


def test_it_refuses_a_prepaid_balance_it_cannot_credit(csms):
    with pytest.raises(CommandError, match="--prepaid-balance"):
        simulate(
            "--url",
            csms.ws_url,
            "--chargers",
            "1",
            "--register",
            "--prepaid-balance",
            "-5",
            "--duration",
            "0.1",
        )


def test_it_runs_a_mixed_fleet_whose_sessions_of_both_protocols_are_priced_and_billed(csms):
    from decimal import Decimal

    from billing.models import LedgerEntry, SessionCharge
    from stations.models import TransactionEvent
    from tests.billing.builders import default_tariff

    default_tariff(price_per_kwh=Decimal("100.0000"))  # a few seconds' watt-hours cost cents

    output = simulate(
        "--url",
        csms.ws_url,
        "--protocol",
        "mixed",
        "--chargers",
        "2",
        "--register",
        "--prepaid-balance",
        "20.00",
        "--duration",
        "6",
        "--meter-interval",
        "1",
        "--charging-share",
        "1",
        "--session-seconds",
        "2",
        "3",
        "--idle-seconds",
        "0",
        "1",
        "--seed",
        "7",
        "--ramp-up",
        "100",
    )

    assert "2 chargers accepted" in output
    versions = dict(Charger.objects.values_list("charge_point_id", "ocpp_version"))
    assert versions == {"SIM-00001": "1.6", "SIM-00002": "2.0.1"}  # half and half, by index

    def billed(charge_point_id: str):
        charges = SessionCharge.objects.filter(transaction__charger__charge_point_id=charge_point_id)
        return charges.filter(charged__gt=0).exists()

    assert wait_until(lambda: billed("SIM-00001") and billed("SIM-00002"), 10)
    for charge_point_id in ("SIM-00001", "SIM-00002"):
        entries = LedgerEntry.objects.filter(kind="session_charge", card__id_tag__startswith=charge_point_id)
        assert entries.exists(), f"{charge_point_id}'s sessions took no money from its prepaid cards"
        assert not Transaction.objects.filter(
            charger__charge_point_id=charge_point_id, stopped_at=None
        ).exists()

    sessions_201 = Transaction.objects.filter(charger__charge_point_id="SIM-00002")
    assert all(session.charger_transaction_id for session in sessions_201)  # the charger named them
    assert not Transaction.objects.filter(charger__charge_point_id="SIM-00001").exclude(
        charger_transaction_id=""
    )
    for session in sessions_201.filter(stopped_at__isnull=False):
        events = list(session.events.order_by("seq_no").values_list("seq_no", "event_type", "trigger_reason"))
        assert [seq_no for seq_no, _type, _reason in events] == list(range(len(events)))
        assert events[0][1:] == ("Started", "Authorized") and events[-1][1] == "Ended"
        assert {event_type for _seq_no, event_type, _reason in events[1:-1]} <= {"Updated"}
        assert session.meter_stop >= session.meter_start and session.id_tag_status == "Accepted"
    assert MeterValue.objects.filter(transaction__in=sessions_201, measurand=ENERGY).exists()
    assert not TransactionEvent.objects.filter(offline=True).exists()  # nothing was queued in this run
