"""Who may open what: three roles (accounts.roles), each staff page asking for one permission.

PAGES lists every staff page once with the roles that open it: a new page is one more line.
"""

import importlib
import re
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts import roles, staff
from billing.models import Tariff
from stations.models import Command
from tests.factories import register_charger
from tests.personas import PASSWORDS, driver

ADMIN, OPERATOR, FRONT_DESK = roles.ADMIN, roles.OPERATOR, roles.FRONT_DESK
PERSONA_OF_ROLE = {ADMIN: "admin", OPERATOR: "operator", FRONT_DESK: "clerk"}
WATCHERS = {ADMIN, OPERATOR}
EVERY_ROLE = {ADMIN, OPERATOR, FRONT_DESK}

# (url name, its arguments, the roles it opens for)
PAGES = [
    ("dashboard", (), WATCHERS),
    ("charger_list", (), WATCHERS),
    ("charger_detail", ("CP-1",), WATCHERS),
    ("session_list", (), WATCHERS),
    ("daily_report", (), WATCHERS),
    ("daily_report_csv", (), WATCHERS),
    ("payment_list", (), WATCHERS),
    ("driver_list", (), EVERY_ROLE),
    ("card_list", (), EVERY_ROLE),
    ("card_new", (), {ADMIN, FRONT_DESK}),
    ("driver_new", (), {ADMIN, FRONT_DESK}),
    ("staff_list", (), {ADMIN}),
    ("staff_new", (), {ADMIN}),
]
# Forms that change something: (url name, arguments, what is posted, the roles it opens for)
ACTIONS = [
    ("charger_operate", ("CP-1", "reset"), {"reset-type": "Hard"}, {ADMIN, OPERATOR}),
    ("staff_role", ("claire",), {"role": ADMIN}, {ADMIN}),
    ("staff_active", ("claire",), {"active": "0"}, {ADMIN}),
]


def url_of(name: str, arguments=()) -> str:
    """The page's address; a page another part of the work has not built yet is skipped, saying so."""
    try:
        return reverse(name, args=[_argument(value) for value in arguments])
    except NoReverseMatch:
        pytest.skip(f"the page {name!r} is not built yet")


def _argument(value):
    """A username stands for that person's id (staff pages address people by id)."""
    person = get_user_model().objects.filter(username=value).first()
    return person.pk if person else value


def browser(person=None) -> Client:
    client = Client()
    if person:
        client.force_login(person)
    return client


@pytest.fixture
def site(db):
    register_charger("CP-1")


@pytest.mark.parametrize("role", sorted(EVERY_ROLE))
@pytest.mark.parametrize(("name", "arguments", "opens_for"), PAGES, ids=[page[0] for page in PAGES])
def test_it_opens_each_page_to_the_roles_it_is_for_and_refuses_the_others(
    request, site, role, name, arguments, opens_for
):
    person = request.getfixturevalue(PERSONA_OF_ROLE[role])
    url = url_of(name, arguments)

    page = browser(person).get(url)

    assert page.status_code == (200 if role in opens_for else 403), (url, role)


REFUSED_ACTIONS = [
    pytest.param(name, arguments, posted, role, id=f"{name}-{role}")
    for name, arguments, posted, opens_for in ACTIONS
    for role in sorted(EVERY_ROLE - opens_for)  # the allowed ones are tested with what they do
]


@pytest.mark.parametrize(("name", "arguments", "posted", "role"), REFUSED_ACTIONS)
def test_it_refuses_a_form_to_the_roles_it_is_not_for(request, site, name, arguments, posted, role):
    person = request.getfixturevalue(PERSONA_OF_ROLE[role])
    request.getfixturevalue("clerk")  # staff_role and staff_active act on Claire

    answer = browser(person).post(url_of(name, arguments), posted)

    assert answer.status_code == 403
    assert not Command.objects.exists()
    assert get_user_model().objects.get(username="claire").groups.get().name == FRONT_DESK


@pytest.mark.parametrize(
    ("name", "arguments"), [page[:2] for page in PAGES] + [action[:2] for action in ACTIONS]
)
def test_it_sends_someone_signed_out_to_sign_in_and_back(site, clerk, name, arguments):
    url = url_of(name, arguments)

    for answer in (browser().get(url), browser().post(url)):
        if answer.status_code == 405:  # a form's address: only the POST is a page
            continue
        assert answer.status_code == 302 and answer["Location"] == f"/login/?next={quote(url)}", url


@pytest.mark.parametrize(
    ("name", "arguments"), [page[:2] for page in PAGES] + [action[:2] for action in ACTIONS]
)
def test_it_refuses_someone_without_a_role_everywhere_staff_work(site, clerk, outsider, name, arguments):
    mallory = browser(outsider)
    url = url_of(name, arguments)

    answers = [mallory.get(url), mallory.post(url, {"role": ADMIN, "active": "0", "reset-type": "Hard"})]

    assert {answer.status_code for answer in answers} <= {403, 405}
    assert 403 in {answer.status_code for answer in answers}
    assert "no role" in answers[0].content.decode() or answers[0].status_code == 405
    assert not Command.objects.exists() and clerk.groups.get().name == FRONT_DESK


def test_it_asks_for_the_command_permission_not_just_the_chargers(site):
    watcher = get_user_model().objects.create_user("walt", is_staff=True)
    watcher.user_permissions.add(Permission.objects.get(codename="view_charger"))
    walt = browser(watcher)

    assert walt.get("/chargers/CP-1/").status_code == 200
    assert walt.post("/chargers/CP-1/operate/reset/", {"reset-type": "Hard"}).status_code == 403
    assert not Command.objects.exists()


def test_it_tells_someone_whose_role_lacks_the_page_just_that(site, clerk):
    refused = browser(clerk).get("/chargers/")

    assert refused.status_code == 403
    assert "not part of your role" in refused.content.decode()
    assert 'href="/"' in refused.content.decode()


# The navigation bar: each person sees the pages their role opens, and where they are.

NAVIGATION = [
    "dashboard",
    "charger_list",
    "session_list",
    "daily_report",
    "payment_list",
    "driver_list",
    "card_list",
    "staff_list",
]


def navigation_links(page) -> list[str]:
    bar = re.search(r'<nav aria-label="Staff pages">(.*?)</nav>', page.content.decode(), re.S).group(1)
    return re.findall(r'<a href="([^"]+)"', bar)


@pytest.mark.parametrize("role", sorted(EVERY_ROLE))
def test_it_shows_each_role_the_pages_it_opens_and_no_other(request, site, role):
    person = browser(request.getfixturevalue(PERSONA_OF_ROLE[role]))
    opens = {name for name, _, opens_for in PAGES if role in opens_for}

    links = navigation_links(person.get("/", follow=True))

    expected = [url_of(name) for name in NAVIGATION if name in opens and _built(name)]
    assert [link for link in links if link != "/admin/"] == expected
    assert ("/admin/" in links) == (role != FRONT_DESK)
    assert all(person.get(link).status_code == 200 for link in links)


def _built(name: str) -> bool:
    try:
        return bool(reverse(name))
    except NoReverseMatch:
        return False


def test_it_marks_the_page_you_are_on_and_its_section(site, operator):
    olga = browser(operator)

    assert '<a href="/chargers/" aria-current="page">' in olga.get("/chargers/").content.decode()
    on_a_charger = olga.get("/chargers/CP-1/").content.decode()
    assert '<a href="/chargers/" aria-current="true">' in on_a_charger
    assert on_a_charger.count("aria-current") == 1


# The Django admin: operators read, only admins change; the front desk has none.


def test_it_lets_an_operator_read_tariffs_and_users_in_the_admin_but_change_nothing(db, operator):
    tariff = Tariff.objects.create(name="Standard", currency="EUR", price_per_kwh="0.30")
    dana, olga = driver(), browser(operator)

    assert olga.get("/admin/billing/tariff/").status_code == 200
    for url in (
        "/admin/billing/tariff/add/",
        f"/admin/billing/tariff/{tariff.pk}/delete/",
        "/admin/accounts/user/add/",
        f"/admin/accounts/user/{dana.pk}/password/",
        "/admin/auth/group/",
    ):
        assert olga.get(url).status_code == 403, url
    assert olga.post(f"/admin/billing/tariff/{tariff.pk}/change/", {"name": "Free"}).status_code == 403
    assert olga.post(f"/admin/accounts/user/{dana.pk}/change/", {"username": "x"}).status_code == 403
    assert (
        Tariff.objects.get().name == "Standard" and get_user_model().objects.filter(username="dana").exists()
    )


def test_it_lets_the_admin_role_add_tariffs_users_and_api_tokens_in_the_admin(db, admin):
    ada = browser(admin)

    for url in (
        "/admin/billing/tariff/add/",
        "/admin/accounts/user/add/",
        "/admin/authtoken/tokenproxy/add/",
    ):
        assert ada.get(url).status_code == 200, url
    assert not admin.is_superuser


def test_it_keeps_the_front_desk_out_of_the_admin(db, clerk):
    assert browser(clerk).get("/admin/billing/tariff/")["Location"].startswith("/admin/login/")


# What each role holds (accounts.roles), and the migration that made them.


def test_it_gives_each_role_what_its_work_needs_and_nothing_more(db):
    held = {
        role: set(group.permissions.values_list("content_type__app_label", "codename"))
        for role, group in ((role, Group.objects.get(name=role)) for role in roles.ROLES)
    }

    assert set(Group.objects.values_list("name", flat=True)) == {ADMIN, OPERATOR, FRONT_DESK}
    assert (
        set(
            Permission.objects.filter(content_type__app_label="billing").values_list(
                "content_type__app_label", "codename"
            )
        )
        <= held[ADMIN]
    )
    assert ("accounts", "manage_staff") in held[ADMIN]
    assert {("stations", "operate_charger"), ("billing", "view_tariff"), ("accounts", "view_user")} <= held[
        OPERATOR
    ]
    assert all(
        codename.startswith("view_") for _, codename in held[OPERATOR] - {("stations", "operate_charger")}
    )
    assert ("rfid", "use_front_desk") not in held[OPERATOR]
    assert ("rfid", "use_front_desk") in held[FRONT_DESK] and ("accounts", "add_user") in held[FRONT_DESK]
    assert not {app for app, _ in held[FRONT_DESK]} & {"stations", "auth"}
    assert not {codename for _, codename in held[FRONT_DESK]} & {"view_tariff", "view_transaction"}


def test_it_names_only_permissions_that_exist(db):
    named = roles.FRONT_DESK_PERMISSIONS + roles.OPERATOR_ALSO + roles.OPERATOR_NEVER_SEES
    existing = set(Permission.objects.values_list("content_type__app_label", "codename"))

    assert [permission for permission in named if permission not in existing] == []


def test_it_hands_permissions_of_a_model_added_later_to_the_roles_when_asked_again(db):
    refunds = ContentType.objects.create(app_label="billing", model="refundrequest")  # a model of tomorrow
    view = Permission.objects.create(content_type=refunds, codename="view_refundrequest", name="Can view")
    change = Permission.objects.create(
        content_type=refunds, codename="change_refundrequest", name="Can change"
    )

    roles.grant_role_permissions(apps)

    assert set(Group.objects.get(name=ADMIN).permissions.filter(content_type=refunds)) == {view, change}
    assert list(Group.objects.get(name=OPERATOR).permissions.filter(content_type=refunds)) == [view]
    assert not Group.objects.get(name=FRONT_DESK).permissions.filter(content_type=refunds).exists()


def test_it_renames_the_old_groups_keeping_their_members(db):
    migration = importlib.import_module("accounts.migrations.0004_staff_roles")
    roles.restore_former_names(apps)  # a site as it was before: "Operators" and "Front desk"
    olga = get_user_model().objects.create_user("olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Operators"))
    Group.objects.get(name="Front desk").delete()
    claire = get_user_model().objects.create_user("claire")
    claire.groups.add(Group.objects.create(name="Front desk"))
    Group.objects.create(name=FRONT_DESK)  # both names at once: made by hand, say

    migration.create_roles(apps, None)

    assert not Group.objects.filter(name__in=["Operators", "Front desk"]).exists()
    assert [group.name for group in olga.groups.all()] == [OPERATOR]
    assert [group.name for group in claire.groups.all()] == [FRONT_DESK]
    assert olga.has_perm("stations.operate_charger") and claire.has_perm("rfid.use_front_desk")


# The staff page (/staff/): admins add people, change roles, deactivate; never delete.


def test_it_lets_an_admin_give_claire_the_operator_role_and_she_then_sees_the_chargers(site, admin, clerk):
    assert browser(clerk).get("/chargers/").status_code == 403

    changed = browser(admin).post(f"/staff/{clerk.pk}/role/", {"role": OPERATOR}, follow=True)

    claire = get_user_model().objects.get(pk=clerk.pk)
    assert "Claire Clerk is now operator." in changed.content.decode()
    assert [group.name for group in claire.groups.all()] == [OPERATOR] and claire.is_staff
    assert browser(claire).get("/chargers/").status_code == 200
    assert browser(claire).get("/admin/").status_code == 200


def test_it_takes_the_admin_away_from_someone_made_front_desk(db, admin, operator):
    browser(admin).post(f"/staff/{operator.pk}/role/", {"role": FRONT_DESK})

    olga = get_user_model().objects.get(pk=operator.pk)
    assert not olga.is_staff and [group.name for group in olga.groups.all()] == [FRONT_DESK]
    assert browser(olga).get("/admin/")["Location"].startswith("/admin/login/")


def test_it_lets_an_admin_add_a_staff_account_that_signs_in_with_its_role(db, admin):
    added = browser(admin).post(
        "/staff/new/",
        {
            "username": "frank",
            "name": "Frank Front",
            "phone": "+49 170 5550199",
            "email": "frank@example.org",
            "password1": "a-first-password-9",
            "password2": "a-first-password-9",
            "role": FRONT_DESK,
        },
    )

    assert added.status_code == 302 and added["Location"] == "/staff/"
    frank = get_user_model().objects.get(username="frank")
    assert (frank.name, frank.phone, frank.is_staff) == ("Frank Front", "+49 170 5550199", False)
    assert [group.name for group in frank.groups.all()] == [FRONT_DESK]
    assert Client().login(username="frank", password="a-first-password-9")


def test_it_refuses_a_weak_password_or_a_taken_username_for_a_new_account(db, admin, operator):
    page = browser(admin).post(
        "/staff/new/",
        {"username": "OLGA", "password1": "123", "password2": "123", "role": OPERATOR},
    )

    assert page.status_code == 200 and page.content.decode().count('class="errorlist') >= 2
    assert get_user_model().objects.count() == 2


def test_it_deactivates_an_account_which_is_signed_out_and_can_be_reactivated(site, admin, operator):
    olga = browser(operator)
    assert olga.get("/chargers/").status_code == 200

    browser(admin).post(f"/staff/{operator.pk}/active/", {"active": "0"})

    assert olga.get("/chargers/")["Location"].startswith("/login/")
    assert not Client().login(username="olga", password=PASSWORDS["olga"])
    assert get_user_model().objects.filter(pk=operator.pk).exists()  # never deleted
    browser(admin).post(f"/staff/{operator.pk}/active/", {"active": "1"})
    assert Client().login(username="olga", password=PASSWORDS["olga"])


def test_it_never_lets_an_admin_demote_or_deactivate_themselves(db, admin):
    ada = browser(admin)

    demoted = ada.post(f"/staff/{admin.pk}/role/", {"role": OPERATOR}, follow=True)
    ada.post(f"/staff/{admin.pk}/active/", {"active": "0"})

    assert "You cannot change your own role or account" in demoted.content.decode()
    admin.refresh_from_db()
    assert admin.is_active and [group.name for group in admin.groups.all()] == [ADMIN]


def test_it_keeps_the_last_admin(db, admin, operator):
    operator.user_permissions.add(Permission.objects.get(codename="manage_staff"))  # staff manager, not admin
    olga = browser(operator)

    refused = olga.post(f"/staff/{admin.pk}/active/", {"active": "0"}, follow=True)
    olga.post(f"/staff/{admin.pk}/role/", {"role": FRONT_DESK})

    assert "Ada Admin is the last admin" in refused.content.decode()
    admin.refresh_from_db()
    assert admin.is_active and [group.name for group in admin.groups.all()] == [ADMIN]


def test_it_refuses_an_admin_demoted_a_moment_ago_who_still_holds_the_page(db, admin):
    """The race staff._locked guards: each demotes the other; whoever acts second is no admin by then."""
    ann = get_user_model().objects.create_user("ann", name="Ann Admin")
    staff.give_role(by=admin, person=ann, role=ADMIN)
    ann.has_perm("accounts.manage_staff")  # her rights as her page was drawn (cached on the object)

    staff.give_role(by=admin, person=ann, role=OPERATOR)

    with pytest.raises(staff.Refused, match="no longer manage staff"):
        staff.give_role(by=ann, person=admin, role=OPERATOR)
    assert [group.name for group in admin.groups.all()] == [ADMIN]


def test_it_lists_staff_with_their_role_and_last_sign_in_and_no_drivers(db, admin, operator, clerk):
    root = get_user_model().objects.create_superuser("root", password="root-pass-1")
    driver()
    Client().login(username="olga", password=PASSWORDS["olga"])

    page = browser(admin).get("/staff/").content.decode()

    for name in ("Ada Admin", "Olga Operator", "Claire Clerk", root.username):
        assert name in page
    assert "Dana Driver" not in page
    assert page.count(">never<") == 2  # Claire and root; Olga signed in, and so did Ada to see the page
    assert page.count('<option value="admin" selected>') == 1  # root, the superuser, counted an admin
    assert '<span class="helptext">superuser</span>' in page
