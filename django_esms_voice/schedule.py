"""The Celery beat entries: the sweep (ESMS_VOICE['SWEEP_INTERVAL']) and the daily purge."""

from __future__ import annotations

from typing import Any

from .conf import voice_settings

SWEEP_TASK = "django_esms_voice.sweep"
PURGE_TASK = "django_esms_voice.purge"
#: The purge runs once a day, when a retention setting is set.
PURGE_INTERVAL = 24 * 60 * 60.0


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Return entries to merge into CELERY_BEAT_SCHEDULE (plain beat) in the host's settings."""
    conf = voice_settings()
    interval = conf.sweep_interval
    entries: dict[str, dict[str, Any]] = {
        "esms-voice-sweep": {
            "task": SWEEP_TASK,
            "schedule": interval,
            # A sweep that waited longer than its interval is stale: the next one will come.
            "options": {"expires": interval},
        }
    }
    if conf.event_raw_retention is not None or conf.call_anonymise_after is not None:
        entries["esms-voice-purge"] = {
            "task": PURGE_TASK,
            "schedule": PURGE_INTERVAL,
            "options": {"expires": PURGE_INTERVAL},
        }
    return entries
