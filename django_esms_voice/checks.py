"""Django system checks that name the exact ESMS_VOICE setting to add or fix."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from . import conf

# Caches that live inside one process: a rate limit kept there holds per worker, not overall.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


#: Missing credentials: an error only in `check --deploy` (and when a call is sent); elsewhere
#: a warning, so that migrate, makemigrations and the admin work before the keys are set.
CREDENTIAL_WARNINGS = {"esms_voice.E001": "esms_voice.W006", "esms_voice.E002": "esms_voice.W007"}


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report every problem of the ESMS_VOICE setting with its id and a hint."""
    conf.reset()  # a check run must see the settings as they are now
    messages: list[checks.CheckMessage] = []
    for problem in conf.problems():
        if problem.id in CREDENTIAL_WARNINGS:
            message = f"{problem.message} No call can be sent until it is set."
            messages.append(
                checks.Warning(message, hint=problem.hint, id=CREDENTIAL_WARNINGS[problem.id])
            )
            continue
        level = checks.Error if problem.error else checks.Warning
        messages.append(level(problem.message, hint=problem.hint, id=problem.id))
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_credentials(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """In `check --deploy`, missing eSMS credentials are errors: production must have them."""
    conf.reset()
    return [
        checks.Error(problem.message, hint=problem.hint, id=problem.id)
        for problem in conf.problems()
        if problem.id in CREDENTIAL_WARNINGS
    ]


@checks.register(checks.Tags.caches)
def check_rate_limit_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when RATE_LIMIT is set but the default cache is not shared between processes."""
    if not conf.loaded_settings().rate_limit:  # unset, or wrong and reported as E004
        return []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in PER_PROCESS_CACHES:
        return []
    return [
        checks.Warning(
            f"ESMS_VOICE['RATE_LIMIT'] is kept in the 'default' cache, which is {backend}: "
            "each worker process would count on its own and the limit would not hold overall.",
            hint="Point CACHES['default'] at Redis or Memcached (a cache every worker shares).",
            id="esms_voice.W004",
        )
    ]


@checks.register(checks.Tags.compatibility)
def check_task_routes(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when a large batch's place_calls tasks would go to another queue than place_call's.

    A host that routes the tasks by name, listing place_call but not place_calls (new), would
    send its campaigns to a queue that perhaps no worker reads.
    """
    from celery import current_app

    from .services.enqueueing import PLACE_BATCH_TASK, PLACE_TASK

    router = current_app.amqp.router
    single, batch = (
        router.route({}, name, (), {})["queue"].name for name in (PLACE_TASK, PLACE_BATCH_TASK)
    )
    if single == batch:
        return []
    return [
        checks.Warning(
            f"Celery routes {PLACE_TASK} to the queue {single!r} but {PLACE_BATCH_TASK} to "
            f"{batch!r}: the calls of a batch of more than 100 would wait on {batch!r}.",
            hint=f"Route 'django_esms_voice.*', or add {PLACE_BATCH_TASK!r} to task_routes "
            "beside the other tasks of the app.",
            id="esms_voice.W008",
        )
    ]
