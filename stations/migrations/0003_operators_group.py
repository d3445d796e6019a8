"""The "Operators" role: staff who may send commands to chargers and see what came back."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATORS = "Operators"
PERMISSIONS = [
    "operate_charger",
    "view_charger",
    "view_connector",
    "view_command",
    "view_reservation",
    "view_chargerconfigurationkey",
    "view_transaction",
    "view_statusnotification",
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; this one needs them now.
    app_config = apps.get_app_config("stations")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=OPERATORS)
    for codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label="stations", codename=codename))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=OPERATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0002_remote_commands"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
