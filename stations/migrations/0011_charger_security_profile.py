# OCPP security profiles 2 and 3: a charger may be required to come over wss:// (and with a client certificate).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0010_server_process_and_session_flags"),
    ]

    operations = [
        migrations.AddField(
            model_name="charger",
            name="security_profile",
            field=models.PositiveSmallIntegerField(
                choices=[
                    (1, "1: password (HTTP Basic), ws:// or wss://"),
                    (2, "2: password (HTTP Basic) over TLS, wss:// only"),
                    (3, "3: TLS with a client certificate naming the charger, wss:// only"),
                ],
                default=1,
                help_text=(
                    "2 and 3 refuse a plain ws:// connection (known from the TLS proxy's X-Forwarded-Proto); "
                    "3 also needs a client certificate whose subject CN is the charge point id "
                    "(docs/operations.md)."
                ),
                verbose_name="security profile",
            ),
        ),
        migrations.AlterField(
            model_name="connectionattempt",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("accepted", "Accepted"),
                    ("pending", "accepted as pending"),
                    ("unknown", "refused: unknown charger"),
                    ("bad_password", "refused: wrong or missing password"),
                    ("rejected", "refused: charger rejected by staff"),
                    ("no_subprotocol", "refused: no supported OCPP version"),
                    ("throttled", "refused: too many failed attempts"),
                    ("insecure", "refused: its security profile needs wss://"),
                    ("no_certificate", "refused: no client certificate naming it"),
                ],
                max_length=20,
            ),
        ),
    ]
