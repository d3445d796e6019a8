"""Each role gets what its job needs and nothing more, in the admin too.

Found by an audit: a staff account with no permission could create the site
configuration with "accept unknown chargers" on; an operator could read
charger password hashes through the charger list's URL filters, and approve
chargers without the right to change them; the front desk could open any
user's page, staff accounts included.
"""

from django.contrib.auth.models import Permission

from stations.models import Charger, SiteConfiguration
from tests.factories import register_charger
from tests.personas import driver


def signed_in(client, user):
    client.force_login(user)
    return client


def test_it_refuses_the_site_configuration_to_staff_without_the_permission(client, operator):
    olga = signed_in(client, operator)

    assert olga.get("/admin/stations/siteconfiguration/add/").status_code == 403
    olga.post("/admin/stations/siteconfiguration/add/", {"accept_unknown_chargers": "on"})

    assert not SiteConfiguration.objects.filter(accept_unknown_chargers=True).exists()


def test_it_lets_the_site_admin_switch_unknown_chargers_on(client, admin):
    ada = signed_in(client, admin)

    ada.post("/admin/stations/siteconfiguration/add/", {"accept_unknown_chargers": "on"})

    assert SiteConfiguration.load().accept_unknown_chargers


def test_it_never_filters_chargers_by_their_password_hash(client, operator, admin):
    register_charger("CP-1", password="a-long-random-charger-key")

    for person in (operator, admin):
        page = signed_in(client, person).get("/admin/stations/charger/", {"password__startswith": "pbkdf2"})
        assert page.status_code == 400
        assert b"pbkdf2" not in page.content


def test_it_lets_only_those_who_may_change_chargers_approve_them(client, operator, admin):
    pending = register_charger("CP-NEW", approval=Charger.Approval.PENDING)
    action = {"action": "approve", "_selected_action": [pending.pk]}
    operator.user_permissions.add(Permission.objects.get(codename="view_charger"))

    signed_in(client, operator).post("/admin/stations/charger/", action)
    pending.refresh_from_db()
    assert pending.approval == Charger.Approval.PENDING

    signed_in(client, admin).post("/admin/stations/charger/", action)
    pending.refresh_from_db()
    assert pending.approval == Charger.Approval.ACCEPTED


def test_it_shows_the_front_desk_drivers_and_never_a_staff_account(client, clerk, operator, admin):
    dana = driver()
    desk = signed_in(client, clerk)

    assert desk.get(f"/drivers/{dana.pk}/").status_code == 200
    for staff in (operator, admin, clerk):
        assert desk.get(f"/drivers/{staff.pk}/").status_code == 404


def test_it_never_deletes_history_from_the_admin_even_for_the_site_admin(client, admin):
    from datetime import UTC, datetime

    from stations.models import MeterValue, Transaction

    charger = register_charger("CP-1")
    session = Transaction.objects.create(
        charger=charger,
        connector_id=1,
        id_tag="TAG",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=datetime(2027, 3, 1, 8, tzinfo=UTC),
    )
    sample = MeterValue.objects.create(
        charger=charger, connector_id=1, transaction=session, timestamp=session.started_at, value="1"
    )
    ada = signed_in(client, admin)

    for model, row in (("transaction", session), ("metervalue", sample)):
        assert ada.get(f"/admin/stations/{model}/{row.pk}/delete/").status_code == 403
        ada.post(
            f"/admin/stations/{model}/",
            {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
        )

    assert (
        Transaction.objects.filter(pk=session.pk).exists()
        and MeterValue.objects.filter(pk=sample.pk).exists()
    )
