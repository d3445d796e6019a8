"""The people of the whole suite: one cast, with the same rights in every test.

- Dana, a driver: a registered customer with a phone number; no staff rights.
- Olga, an operator: the "operator" role, and staff (is_staff), so the Django
  admin opens for her, read-only: chargers and their commands, sessions,
  reports, drivers and cards; never a tariff or a user changed.
- Claire, a front-desk clerk: the "front desk" role: cards, top-ups and
  drivers, through the desk pages (no admin account); never a charger.
- Ada, the site administrator: the "admin" role and is_staff, not a superuser.
  A superuser passes every check whatever their groups say, so taking the
  rights away means knowing to clear a flag, and the staff page could not
  show why someone may do everything. As a role, her rights are the admin
  group's permissions: listed on /staff/, removed by changing her role or
  deactivating her there, and what the role may do is written in one place
  (accounts/roles.py). The site's first account is still a superuser
  (createsuperuser, quickstart), shown on /staff/ as an admin.
- Mallory, an outsider who must be refused everywhere staff work: an account
  with no rights at all.

Each builder makes the person in the current test database; the groups come
from the data migration's own code (a flushed transactional database lost them).
"""

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts import roles

PASSWORDS = {
    "dana": "driver-pass-1",
    "olga": "operator-pass-1",
    "claire": "clerk-pass-1",
    "ada": "admin-pass-1",
    "mallory": "outsider-pass-1",
}


def driver(username="dana", **fields):
    fields = {"name": "Dana Driver", "phone": "+49 170 5550101", "email": "dana@example.org", **fields}
    return get_user_model().objects.create_user(
        username, password=PASSWORDS.get(username, "driver-pass-1"), **fields
    )


def operator(username="olga"):
    user = get_user_model().objects.create_user(
        username, password=PASSWORDS["olga"], is_staff=True, name="Olga Operator"
    )
    user.groups.add(role_group(roles.OPERATOR))
    return user


def clerk(username="claire"):
    user = get_user_model().objects.create_user(username, password=PASSWORDS["claire"], name="Claire Clerk")
    user.groups.add(role_group(roles.FRONT_DESK))
    return user


def admin(username="ada"):
    user = get_user_model().objects.create_user(
        username, password=PASSWORDS["ada"], is_staff=True, name="Ada Admin"
    )
    user.groups.add(role_group(roles.ADMIN))
    return user


def outsider(username="mallory"):
    return get_user_model().objects.create_user(username, password=PASSWORDS["mallory"], name="Mallory")


def role_group(role: str) -> Group:
    """The role's group, made again by the migration's code when a flush emptied the database."""
    group = Group.objects.filter(name=role).first()
    if group is None:
        roles.grant_role_permissions(apps)
        group = Group.objects.get(name=role)
    return group


def operators_group() -> Group:
    return role_group(roles.OPERATOR)


def front_desk_group() -> Group:
    return role_group(roles.FRONT_DESK)
