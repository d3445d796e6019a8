"""Signing in slows down password guessing, records it for staff, and never locks anyone out from elsewhere."""

import pytest

from accounts.backends import SIGN_IN_FAILURES
from accounts.models import FailedSignIn
from tests.personas import PASSWORDS

GUESSER, CLERKS_DESK = "203.0.113.5", "198.51.100.20"


@pytest.fixture(autouse=True)
def fresh_counts():
    SIGN_IN_FAILURES.clear()
    yield
    SIGN_IN_FAILURES.clear()


def sign_in(client, password: str, address: str) -> bool:
    client.post("/login/", {"username": "claire", "password": password}, REMOTE_ADDR=address)
    return "_auth_user_id" in client.session


def test_it_refuses_even_the_right_password_after_five_wrong_ones_from_one_address(client, clerk):
    guesses = [sign_in(client, f"guess-{n}", GUESSER) for n in range(5)]

    assert not any(guesses)
    assert not sign_in(client, PASSWORDS["claire"], GUESSER)
    assert list(
        FailedSignIn.objects.order_by("id").values_list("username", "remote_address", "throttled")
    ) == ([("claire", GUESSER, False)] * 5 + [("claire", GUESSER, True)])


def test_it_tells_a_paused_sign_in_to_wait_rather_than_blaming_the_password(client, clerk):
    for n in range(5):
        sign_in(client, f"guess-{n}", GUESSER)

    paused = client.post(
        "/login/", {"username": "claire", "password": PASSWORDS["claire"]}, REMOTE_ADDR=GUESSER
    )

    assert "Too many failed sign-ins from here" in paused.content.decode()


def test_it_lets_the_person_in_from_their_own_desk_meanwhile(client, clerk):
    for n in range(5):
        sign_in(client, f"guess-{n}", GUESSER)

    assert sign_in(client, PASSWORDS["claire"], CLERKS_DESK)


def test_it_shows_failed_sign_ins_to_the_site_admin_only(client, admin, operator):
    sign_in(client, "wrong", GUESSER)

    client.force_login(admin)
    assert GUESSER in client.get("/admin/accounts/failedsignin/").content.decode()
    client.force_login(operator)
    assert client.get("/admin/accounts/failedsignin/").status_code == 403


def test_it_signs_every_role_in_at_one_place_and_sends_each_to_their_pages(
    client, operator, clerk, admin, outsider
):
    for person, password, home in (
        ("olga", PASSWORDS["olga"], "/dashboard/"),
        ("ada", PASSWORDS["ada"], "/dashboard/"),
        ("claire", PASSWORDS["claire"], "/drivers/"),
    ):
        signed_in = client.post("/login/", {"username": person, "password": password})
        assert signed_in.status_code == 302 and signed_in["Location"] == "/"
        assert client.get("/")["Location"] == home, person
        client.post("/logout/")

    client.post("/login/", {"username": "mallory", "password": PASSWORDS["mallory"]})
    nobody = client.get("/")
    assert nobody.status_code == 403 and "no role" in nobody.content.decode()


def test_it_sends_someone_signed_out_to_the_one_sign_in_page(client, settings):
    settings.SITE_NAME = "Harbour Car Park"

    for page in ("/", "/chargers/", "/reports/", "/drivers/", "/cards/"):
        assert client.get(page)["Location"].startswith("/login/"), page
    assert client.get("/desk/login/?next=/desk/")["Location"] == "/login/?next=/desk/"
    assert "Sign in to Harbour Car Park" in client.get("/login/").content.decode()
