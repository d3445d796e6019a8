"""The people of the whole suite: one cast, with the same rights in every test.

- Dana, a driver: a registered customer with a phone number; no staff rights.
- Olga, an operator: staff in the "Operators" group: chargers and their commands.
- Claire, a front-desk clerk: in the "Front desk" group: cards, top-ups and
  drivers, through the desk pages (no admin account); never a charger.
- Ada, the site administrator: a superuser.
- Mallory, an outsider who must be refused everywhere staff work: an account
  with no rights at all.

Each builder makes the person in the current test database; the groups come
from the data migrations' own code (a flushed transactional database lost them).
"""

import importlib

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

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
    user.groups.add(operators_group())
    return user


def clerk(username="claire"):
    user = get_user_model().objects.create_user(username, password=PASSWORDS["claire"], name="Claire Clerk")
    user.groups.add(front_desk_group())
    return user


def admin(username="ada"):
    return get_user_model().objects.create_superuser(username, password=PASSWORDS["ada"], name="Ada Admin")


def outsider(username="mallory"):
    return get_user_model().objects.create_user(username, password=PASSWORDS["mallory"], name="Mallory")


def operators_group() -> Group:
    return _group_of_migration("stations.migrations.0003_operators_group", "OPERATORS")


def front_desk_group() -> Group:
    return _group_of_migration("rfid.migrations.0003_front_desk_group", "FRONT_DESK")


def _group_of_migration(module: str, name_attribute: str) -> Group:
    migration = importlib.import_module(module)
    migration.create_group(apps, None)
    return Group.objects.get(name=getattr(migration, name_attribute))
