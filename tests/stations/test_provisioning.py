"""Operators' scripts provision chargers and idTags from the command line."""

import io
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from rfid.models import IdTag
from stations.models import Charger


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_registers_several_chargers_with_a_hashed_password(db):
    output = run("add_charger", "CP-1", "CP-2", "--password", "s3cret")

    assert "Registered charger CP-1 (with a password)" in output
    for charger in Charger.objects.all():
        assert charger.password != "s3cret"
        assert charger.check_password("s3cret") and not charger.check_password("guess")
    assert Charger.objects.count() == 2


def test_it_updates_an_existing_charger_and_approves_it(db):
    Charger.objects.create(charge_point_id="CP-1", approval=Charger.Approval.PENDING)

    output = run("add_charger", "CP-1")

    assert "Updated charger CP-1 (without a password)" in output
    assert Charger.objects.get().approval == "accepted"


def test_it_refuses_an_overlong_charger_id(db):
    with pytest.raises(CommandError, match="1 to 48 characters"):
        run("add_charger", "X" * 49)
    assert not Charger.objects.exists()


def test_it_registers_an_id_tag_normalised(db):
    run("add_idtag", " 04aabbcc ")

    assert IdTag.objects.get().id_tag == "04AABBCC"


def test_it_warns_about_a_short_charger_password(db):
    err = io.StringIO()
    call_command("add_charger", "CP-1", "--password", "short", stdout=io.StringIO(), stderr=err)
    assert "shorter than 16 characters" in err.getvalue()


def test_it_hashes_a_key_as_long_as_ocpp_asks_cheaply_and_a_short_password_slowly(db):
    key, short = Charger(charge_point_id="CP-1"), Charger(charge_point_id="CP-2")

    key.set_password("0123456789abcdef")
    short.set_password("0123456789abcde")

    assert key.password.startswith("pbkdf2_sha256_charger_key$1000$")
    assert short.password.startswith("pbkdf2_sha256_charger$20000$")
    assert key.check_password("0123456789abcdef") and short.check_password("0123456789abcde")


def test_it_upgrades_a_slow_legacy_hash_when_the_charger_logs_in(db):
    from django.contrib.auth.hashers import make_password

    legacy = {
        "CP-1": make_password("0123456789abcdef"),  # Django's own 1,000,000 rounds
        "CP-2": make_password("0123456789abcdef", hasher="pbkdf2_sha256_charger"),
    }  # an earlier version
    for charge_point_id, encoded in legacy.items():
        charger = Charger.objects.create(charge_point_id=charge_point_id, password=encoded)

        assert charger.check_password("0123456789abcdef")

        charger.refresh_from_db()
        assert charger.password.startswith("pbkdf2_sha256_charger_key$")
        assert charger.check_password("0123456789abcdef") and not charger.check_password("0123456789abcdeX")


def test_it_never_closes_a_charger_for_having_been_connected_long():
    from csms.server import daphne_argv

    argv = daphne_argv("127.0.0.1", 8000)

    # daphne's default closes every WebSocket after 86,400 s; -1 turns that off.
    assert argv[argv.index("--websocket_timeout") + 1] == "-1"


def test_it_gives_a_handshake_as_long_as_a_charger_waits_for_it():
    from csms.server import daphne_argv

    argv = daphne_argv("127.0.0.1", 8000)

    # daphne's default drops a handshake after 5 s: a reconnecting fleet's queue is longer.
    assert int(argv[argv.index("--websocket_connect_timeout") + 1]) >= 30


def test_it_lets_go_of_the_http_request_once_a_socket_is_upgraded():
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet.testing import StringTransport

    from csms import library_patches

    transport = StringTransport()
    transport.registerProducer(object(), True)  # daphne's upgraded HTTP channel, as it leaves it
    socket, opened = SimpleNamespace(transport=transport), []

    library_patches.releasing_the_upgraded_request(opened.append)(socket)

    assert transport.producer is None
    assert opened == [socket]  # daphne's own onOpen still runs
    assert (
        "releasing_the_upgraded_request" in WebSocketProtocol.onOpen.__qualname__
    )  # and is what daphne runs


def test_it_skips_the_slow_hash_for_a_password_it_verified_before(db, monkeypatch):
    from django.contrib.auth import hashers

    charger = Charger(charge_point_id="CP-1")
    charger.set_password("0123456789abcdef")
    calls = []
    real_check = hashers.check_password
    monkeypatch.setattr(
        "stations.models.check_password", lambda *a, **k: calls.append(1) or real_check(*a, **k)
    )

    assert charger.check_password("0123456789abcdef")
    assert charger.check_password("0123456789abcdef")
    assert not charger.check_password("0123456789abcdeX")
    assert len(calls) == 2, "the second right password is answered from memory, a wrong one never is"

    charger.set_password("a-new-secret-0123")  # a new hash: what was verified before no longer counts
    assert not charger.check_password("0123456789abcdef")
