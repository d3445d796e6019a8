"""The three staff roles: "admin", "operator" and "front desk" (accounts.roles says what each may do).

The groups of stations 0003 ("Operators") and rfid 0003 ("Front desk") are renamed, so the people
in them keep their role. A later migration adding models calls accounts.roles.grant_role_permissions.
"""

from django.db import migrations

from accounts import roles


def create_roles(apps, schema_editor):
    roles.rename_former_groups(apps)
    roles.grant_role_permissions(apps)


def restore_former_names(apps, schema_editor):
    roles.restore_former_names(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_failed_sign_in"),
        ("stations", "0008_connection_attempt_throttled"),
        ("rfid", "0003_front_desk_group"),
        ("billing", "0001_initial"),
        # The admin role manages API tokens too: their permissions must exist by now.
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="user",
            options={
                "permissions": [("manage_staff", "Can manage staff accounts and their roles")],
                "verbose_name": "user",
                "verbose_name_plural": "users",
            },
        ),
        migrations.RunPython(create_roles, restore_former_names),
    ]
