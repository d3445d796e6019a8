"""Staff accounts and their roles: what the staff page (/staff/) does, each change in one transaction.

A person holds one of accounts.roles.ROLES. Giving a role sets is_staff as the role says (the
Django admin opens for admins and operators, not for the front desk) and clears is_superuser, so
the staff page tells the whole truth about what someone may do. Nobody is deleted, only
deactivated; nobody changes their own role or account here; the site always keeps an active admin.
"""

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts import roles
from accounts.access import MANAGE_STAFF


class Refused(Exception):
    """A change the rules above forbid; the message says why, to the admin who tried it."""


def staff_members():
    """Everyone with a role or the staff or superuser flag, deactivated accounts too (to reactivate them)."""
    is_staff = Q(groups__name__in=roles.ROLES) | Q(is_staff=True) | Q(is_superuser=True)
    people = get_user_model().objects.filter(is_staff).distinct()
    return people.prefetch_related("groups").order_by("-is_active", "name", "username")


def roles_of(person) -> list[str]:
    """The roles a person holds, in the order of ROLES; a superuser counts as an admin."""
    held = {group.name for group in person.groups.all()} & set(roles.ROLES)  # prefetched: no query
    if person.is_superuser:
        held.add(roles.ADMIN)
    return [role for role in roles.ROLES if role in held]


@transaction.atomic
def add_staff(*, account, role: str):
    """`account`: an unsaved user with its password set (accounts.forms.StaffAccountForm)."""
    account.save()
    _set_role(account, role)
    return account


@transaction.atomic
def give_role(*, by, person, role: str) -> None:
    actor, person = _locked(by, person)
    _check_may_change(actor, person)
    if role != roles.ADMIN:
        _keep_an_admin_besides(person)
    _set_role(person, role)


@transaction.atomic
def set_active(*, by, person, active: bool) -> None:
    """Deactivated: signed out at their next request, their history and role kept for a reactivation."""
    actor, person = _locked(by, person)
    _check_may_change(actor, person)
    if not active:
        _keep_an_admin_besides(person)
    person.is_active = active
    person.save(update_fields=["is_active"])


def _locked(actor, person) -> tuple:
    """Both rows locked, read again. The race: two admins demoting each other at the same moment
    would leave no admin. The second waits for the first, then finds itself no longer an admin."""
    rows = get_user_model().objects.select_for_update().filter(pk__in=[actor.pk, person.pk]).order_by("pk")
    fresh = {row.pk: row for row in rows}  # fresh objects: no permission cached from before the lock
    return fresh[actor.pk], fresh[person.pk]


def _check_may_change(actor, person) -> None:
    if not (actor.is_active and actor.has_perm(MANAGE_STAFF)):
        raise Refused(_("You may no longer manage staff."))
    if actor.pk == person.pk:
        raise Refused(_("You cannot change your own role or account: ask another admin."))


def _keep_an_admin_besides(person) -> None:
    """Demoting or deactivating an active admin must leave another active admin."""
    if not (person.is_active and roles.ADMIN in roles_of(person)):
        return
    admins = get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name=roles.ADMIN))
    if not admins.filter(is_active=True).exclude(pk=person.pk).exists():
        raise Refused(
            _("%(person)s is the last admin: make someone else an admin first.") % {"person": person}
        )


def _set_role(person, role: str) -> None:
    if not Group.objects.filter(name=role).exists():
        roles.grant_role_permissions(apps)  # deleted in the Django admin: made again as the migration did
    person.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
    person.groups.add(Group.objects.get(name=role))
    person.is_staff = roles.OPENS_THE_ADMIN[role]
    person.is_superuser = False
    person.save(update_fields=["is_staff", "is_superuser"])
