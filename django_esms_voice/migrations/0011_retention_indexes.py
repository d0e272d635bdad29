# Written by hand (Django 5.2.19).
#
# The purge (services.retention, Decree 13/2023/ND-CP) picks its chunks from these partial
# indexes: callback events still holding raw text or an address, by when they arrived, and
# ended calls not anonymised yet, by when they ended. A purged row leaves its index, so a
# daily purge reads only what it has not done yet instead of every old row again.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0010_suppression"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="callbackevent",
            index=models.Index(
                condition=models.Q(
                    models.Q(("raw", ""), _negated=True),
                    ("remote_addr__isnull", False),
                    _connector="OR",
                ),
                fields=["received_at"],
                name="esms_voice_event_raw",
            ),
        ),
        migrations.AddIndex(
            model_name="voicecall",
            index=models.Index(
                condition=models.Q(
                    ("completed_at__isnull", False),
                    models.Q(("phone__startswith", "*"), _negated=True),
                ),
                fields=["completed_at"],
                name="esms_voice_call_identified",
            ),
        ),
    ]
