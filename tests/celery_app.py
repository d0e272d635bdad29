"""The Celery app of the test suite: ``celery -A tests.celery_app worker`` runs the app's tasks.

Workers read the broker, the database and the ESMS_VOICE overrides from the environment that
tests/integration sets (see the "worker processes" block of tests/settings.py).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

APP_NAME = "esms_voice_tests"


def create_app(broker_url: str | None = None, default_queue: str | None = None) -> Celery:
    """Build an app configured from Django's CELERY_* settings, optionally on another broker."""
    celery_app = Celery(APP_NAME, set_as_current=False)
    celery_app.config_from_object("django.conf:settings", namespace="CELERY")
    if broker_url is not None:
        celery_app.conf.broker_url = broker_url
    if default_queue is not None:
        celery_app.conf.task_default_queue = default_queue
    celery_app.autodiscover_tasks()
    return celery_app


# The worker (``-A tests.celery_app``) makes this app the default one; importing it elsewhere
# changes nothing.
app = create_app()
