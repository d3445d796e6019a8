"""The "Front desk" role: find, issue, block, replace and top up cards; nothing else."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FRONT_DESK = "Front desk"
PERMISSIONS = [
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


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; this one needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=FRONT_DESK)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=FRONT_DESK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rfid", "0002_cards_and_wallets"),
        ("billing", "0001_initial"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
