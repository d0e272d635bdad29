# Written by hand (Django 5.2.19).
#
# A campaign's timeline and its pace read the calls that ended, by when: with this index
# they read it alone (an index-only scan) instead of the whole call rows. Measured on
# PostgreSQL with a 1,000,000-call campaign (bench/campaign_page.py, docs/benchmarks.md).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0006_event_reprocessing"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="voicecall",
            index=models.Index(
                condition=models.Q(("campaign__isnull", False), ("completed_at__isnull", False)),
                fields=["campaign", "completed_at", "status"],
                name="esms_voice_campaign_done",
            ),
        ),
    ]
