"""Every call has a purpose: its campaign's, or ESMS_VOICE['DEFAULT_PURPOSE'] without one.

A window hold joins the campaign's: a call waits, pending, for its purpose's calling window.
"""

from typing import Any

from django.db import migrations, models

import django_esms_voice.conf


def purpose_of_campaign(apps: Any, schema_editor: Any) -> None:
    """Give a campaign's calls its purpose (AddField gave every call the default one)."""
    VoiceCall = apps.get_model("esms_voice", "VoiceCall")
    calls = VoiceCall.objects.using(schema_editor.connection.alias)
    for purpose in ("advertising", "customer_care", "transactional"):
        calls.filter(campaign__purpose=purpose).exclude(purpose=purpose).update(purpose=purpose)


class Migration(migrations.Migration):
    dependencies = [
        ("esms_voice", "0008_campaign_figures_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="voicecall",
            name="purpose",
            field=models.CharField(
                choices=[
                    ("advertising", "Advertising"),
                    ("customer_care", "Customer care"),
                    ("transactional", "Transactional (OTP, security)"),
                ],
                default=django_esms_voice.conf.default_purpose,
                max_length=16,
                verbose_name="purpose",
            ),
        ),
        migrations.RunPython(purpose_of_campaign, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="voicecall",
            name="hold",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not held"),
                    ("campaign_paused", "Its campaign is paused"),
                    ("calling_window", "Waiting for the calling window"),
                ],
                default="",
                max_length=16,
                verbose_name="held",
            ),
        ),
    ]
