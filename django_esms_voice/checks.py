"""Django system checks that name the exact ESMS_VOICE setting to add or fix."""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import conf


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report every problem of the ESMS_VOICE setting with its id and a hint."""
    conf._load.cache_clear()  # a check run must see the settings as they are now
    messages: list[checks.CheckMessage] = []
    for problem in conf.problems():
        level = checks.Error if problem.error else checks.Warning
        messages.append(level(problem.message, hint=problem.hint, id=problem.id))
    return messages
