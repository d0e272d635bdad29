# Written by hand (Django 5.2.19).
#
# A campaign's figures and its timeline read these indexes alone (index-only scans) instead
# of the call rows, whose campaign is their last column: its counts, error codes, keys and
# durations the first (esms_voice_campaign_status, widened: its columns take few values, so
# it stays deduplicated, 7 MB at a million calls), its cost and its timeline's bars the
# second, its billed calls without a price the third. Measured on PostgreSQL with a
# 1,000,000-call campaign (bench/campaign_page.py, docs/benchmarks.md).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0007_campaign_done_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="voicecall", name="esms_voice_campaign_status"),
        migrations.AddIndex(
            model_name="voicecall",
            index=models.Index(
                condition=models.Q(("campaign__isnull", False)),
                fields=["campaign", "status", "last_error_code", "ivr_pressed", "duration"],
                name="esms_voice_campaign_status",
            ),
        ),
        migrations.AddIndex(
            model_name="voicecall",
            index=models.Index(
                condition=models.Q(("campaign__isnull", False), ("completed_at__isnull", False)),
                fields=["campaign", "status", "completed_at", "price"],
                name="esms_voice_campaign_outcomes",
            ),
        ),
        migrations.AddIndex(
            model_name="voicecall",
            index=models.Index(
                condition=models.Q(
                    ("campaign__isnull", False),
                    ("price__isnull", True),
                    ("status__in", ["answered", "failed", "no_answer", "unknown"]),
                ),
                fields=["campaign"],
                name="esms_voice_campaign_unpriced",
            ),
        ),
    ]
