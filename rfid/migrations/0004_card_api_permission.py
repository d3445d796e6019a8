# The permission to issue, block and replace cards through the API, handed to the admin role.

from django.db import migrations


def grant_roles(apps, schema_editor):
    from accounts.roles import grant_role_permissions

    grant_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_staff_roles"),
        ("rfid", "0003_front_desk_group"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="idtag",
            options={
                "ordering": ["id_tag"],
                "permissions": [
                    ("use_front_desk", "Can use the front desk pages"),
                    ("manage_cards", "Can issue, block and replace cards through the API"),
                ],
                "verbose_name": "idTag",
            },
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
