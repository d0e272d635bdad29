# Written by hand (Django 5.2.19) beside 0005, which another change adds.

from django.db import migrations, models


# When a failed event was last judged again, and how many times: reprocessing updates the
# event's own row (outcome, statuses, error) and keeps its raw.


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0005_campaigns"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackevent",
            name="reprocessed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last reprocessed"),
        ),
        migrations.AddField(
            model_name="callbackevent",
            name="reprocess_count",
            field=models.PositiveIntegerField(default=0, verbose_name="times reprocessed"),
        ),
    ]
