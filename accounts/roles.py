"""The three staff roles, written once: their names, what each may do, and giving them out.

A role is a Django group carrying permissions; pages ask for a permission (accounts.access),
never for a group. The data migration accounts 0004 and the staff page (/staff/) both read this
module, so it imports no model: a migration passes its historical `apps`, a running site the
real registry.

A later migration that adds a model (and so new permissions, e.g. billing's view_payment) hands
them to the roles by calling `grant_role_permissions(apps)` from a RunPython of its own: the
operator role sees every model of its apps (but the few named below), the admin role holds every
permission of its apps.
"""

from django.contrib.auth.management import create_permissions
from django.db.models import Q
from django.utils.translation import pgettext_lazy

ADMIN = "admin"
OPERATOR = "operator"
FRONT_DESK = "front desk"
ROLES = (ADMIN, OPERATOR, FRONT_DESK)

ROLE_LABELS = {
    ADMIN: pgettext_lazy("role", "admin"),
    OPERATOR: pgettext_lazy("role", "operator"),
    FRONT_DESK: pgettext_lazy("role", "front desk"),
}

# Admins and operators may open the Django admin (operators read-only); the front desk may not.
OPENS_THE_ADMIN = {ADMIN: True, OPERATOR: True, FRONT_DESK: False}

# The groups' names before accounts 0004 (stations 0003, rfid 0003): renamed, members kept.
FORMER_NAMES = {"Operators": OPERATOR, "Front desk": FRONT_DESK}

# Everything, tariffs, users, groups and API tokens included.
ADMIN_APPS = ("accounts", "auth", "authtoken", "billing", "rfid", "stations")

# Operators see every model of these apps (drivers, cards, tariffs, the ledger, sessions)...
OPERATOR_SEES_APPS = ("accounts", "billing", "rfid", "stations")
# ...but not who mistyped a password where, nor the raw records (every meter sample, every frame,
# every handshake with its address): the admins' security and forensic records. Their pages show
# sessions, charts and charger states made from them.
OPERATOR_NEVER_SEES = [
    ("accounts", "view_failedsignin"),
    ("stations", "view_metervalue"),
    ("stations", "view_messagelog"),
    ("stations", "view_connectionattempt"),
]
OPERATOR_ALSO = [("stations", "operate_charger")]

# Find drivers and cards, issue, block and replace cards, top up, receipts; nothing about chargers.
FRONT_DESK_PERMISSIONS = [
    ("rfid", "use_front_desk"),
    ("rfid", "view_idtag"),
    ("rfid", "add_idtag"),
    ("rfid", "change_idtag"),
    ("billing", "view_account"),
    ("billing", "view_ledgerentry"),
    ("billing", "add_ledgerentry"),
    ("billing", "view_sessioncharge"),
    ("accounts", "view_user"),
    ("accounts", "add_user"),
]


def grant_role_permissions(apps) -> None:
    """Make the three groups if missing and give each its permissions as they exist now.

    Re-runnable, and only ever adds: a permission an admin took from a role by hand in the
    Django admin comes back only if it is one of the role's own.
    """
    _create_all_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, permissions in role_permissions(Permission).items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*permissions)


def role_permissions(permission_model) -> dict:
    """Each role's permissions, as querysets of auth's Permission (a historical model in migrations)."""
    permissions = permission_model.objects
    sees = permissions.filter(content_type__app_label__in=OPERATOR_SEES_APPS, codename__startswith="view_")
    return {
        ADMIN: permissions.filter(content_type__app_label__in=ADMIN_APPS),
        OPERATOR: sees.exclude(_named(OPERATOR_NEVER_SEES)) | permissions.filter(_named(OPERATOR_ALSO)),
        FRONT_DESK: permissions.filter(_named(FRONT_DESK_PERMISSIONS)),
    }


def rename_former_groups(apps) -> None:
    """The groups "Operators" and "Front desk" become "operator" and "front desk", members kept.

    Should both names exist (someone made the new group by hand), the old one's members and
    permissions move over and the old group goes: nobody loses their role.
    """
    Group = apps.get_model("auth", "Group")
    for former, role in FORMER_NAMES.items():
        old = Group.objects.filter(name=former).first()
        new = Group.objects.filter(name=role).first()
        if old and not new:
            old.name = role
            old.save(update_fields=["name"])
        elif old:
            new.user_set.add(*old.user_set.all())
            new.permissions.add(*old.permissions.all())
            old.delete()


def restore_former_names(apps) -> None:
    """Undoing accounts 0004: the two groups get their old names back (the admin group stays)."""
    Group = apps.get_model("auth", "Group")
    for former, role in FORMER_NAMES.items():
        if not Group.objects.filter(name=former).exists():
            Group.objects.filter(name=role).update(name=former)


def _named(pairs) -> Q:
    """Permissions named by (app label, codename)."""
    wanted = Q(pk__in=[])
    for app_label, codename in pairs:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return wanted


def _create_all_permissions(apps) -> None:
    """Django creates permissions after all migrations ran; a role given in a migration needs them now.

    A migration's historical app configs have no models module, which makes create_permissions
    skip them: pretend one for the call, then put back what was there.
    """
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module
