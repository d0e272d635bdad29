"""The Celery beat entry for the sweep, built from ESMS_VOICE['SWEEP_INTERVAL']."""

from __future__ import annotations

from typing import Any

from .conf import voice_settings

SWEEP_TASK = "django_esms_voice.sweep"


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Return entries to merge into CELERY_BEAT_SCHEDULE (plain beat) in the host's settings."""
    interval = voice_settings().sweep_interval
    return {
        "esms-voice-sweep": {
            "task": SWEEP_TASK,
            "schedule": interval,
            # A sweep that waited longer than its interval is stale: the next one will come.
            "options": {"expires": interval},
        }
    }
