import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The daily figures of a charger's days that are over (stations.reports.store_charger_days)."""

    dependencies = [
        ("stations", "0008_connection_attempt_throttled"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChargerDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("zone", models.CharField(max_length=64)),
                ("day", models.DateField()),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                ("working_seconds", models.FloatField()),
                ("charging_seconds", models.FloatField()),
                ("energy_wh", models.FloatField()),
                ("stored_at", models.DateTimeField()),
                (
                    "charger",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="stations.charger"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("charger", "zone", "day"), name="unique_charger_day")
                ],
            },
        ),
    ]
