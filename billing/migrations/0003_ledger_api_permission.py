# The permission to read the whole ledger through the API, handed to the roles (operators, admins).

from django.db import migrations


def grant_roles(apps, schema_editor):
    from accounts.roles import grant_role_permissions

    grant_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_payments"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ledgerentry",
            options={
                "ordering": ["created_at", "id"],
                "permissions": [("view_ledger", "Can read every wallet's ledger entries")],
                "verbose_name_plural": "ledger entries",
            },
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
