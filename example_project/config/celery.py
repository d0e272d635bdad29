"""The Celery app of the example project: `celery -A config worker` and `celery -A config beat`.

Run from example_project/ (or with it on PYTHONPATH). Every CELERY_* Django setting configures
it; see config/settings.py for the broker (embedded by default, CELERY_BROKER_URL otherwise).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds django_esms_voice.tasks (place_call, sweep) and any tasks.py of the project's apps.
app.autodiscover_tasks()


@app.on_after_configure.connect
def add_sweep_to_beat(sender: Celery, **kwargs: Any) -> None:
    """Add the app's periodic sweep to beat's schedule, once Django's settings are loaded.

    beat_schedule() reads ESMS_VOICE['SWEEP_INTERVAL'], so it cannot run inside settings.py
    itself; here the settings are complete. Entries of CELERY_BEAT_SCHEDULE with the same name
    win, so a project can still override the sweep's entry there.
    """
    from django_esms_voice.schedule import beat_schedule

    sender.conf.beat_schedule = {**beat_schedule(), **(sender.conf.beat_schedule or {})}
