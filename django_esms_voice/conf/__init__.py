"""The ESMS_VOICE settings: read and validated once, forgotten together when they change.

``reading.py`` reads the raw dict (defaults, environment fallbacks, every problem found); this
module caches what is built from it and holds the one ``setting_changed`` receiver.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from ..exceptions import EsmsSettingsError
from .reading import API_KEY_ENV as API_KEY_ENV
from .reading import CONFIRMATION_MAX_AGE as CONFIRMATION_MAX_AGE
from .reading import DEFAULTS as DEFAULTS
from .reading import SECRET_KEY_ENV as SECRET_KEY_ENV
from .reading import SETTING_NAME as SETTING_NAME
from .reading import Problem as Problem
from .reading import VoiceSettings as VoiceSettings
from .reading import read_settings as read_settings

#: The DRF throttle scope of the API requests that spend eSMS credit (create one call, a batch).
API_THROTTLE_SCOPE = "esms_voice_calls"
#: Its rate when REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] does not name the scope.
API_THROTTLE_RATE = "60/minute"

_T = TypeVar("_T")
_resets: list[Callable[[], None]] = []


def per_settings(build: Callable[[], _T]) -> Callable[[], _T]:
    """Build once and keep what a function makes from ESMS_VOICE, until reset() forgets it."""
    cached = functools.cache(build)
    _resets.append(cached.cache_clear)
    return cached


def reset() -> None:
    """Forget the settings and everything built from them (client, backend): read them anew."""
    for clear in _resets:
        clear()


@receiver(setting_changed)
def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    """Forget everything built from ESMS_VOICE when a test changes it: the one such receiver."""
    if setting == SETTING_NAME:
        reset()


@per_settings
def _load() -> tuple[VoiceSettings, tuple[Problem, ...]]:
    """Read and validate the settings once; reset when a test overrides ESMS_VOICE."""
    voice_settings, problems = read_settings(getattr(settings, SETTING_NAME, None))
    return voice_settings, tuple(problems)


def voice_settings() -> VoiceSettings:
    """Return the validated settings, raising an error that names the wrong setting."""
    loaded, problems = _load()
    errors = [p for p in problems if p.error and p.id not in ("esms_voice.E001", "esms_voice.E002")]
    if errors:
        raise EsmsSettingsError(f"{errors[0].message} {errors[0].hint}")
    return loaded


def default_purpose() -> str:
    """The purpose of a call or campaign made without one: ESMS_VOICE['DEFAULT_PURPOSE']."""
    return voice_settings().default_purpose


def require_credentials() -> tuple[str, str]:
    """Return (API_KEY, SECRET_KEY), raising an error that says where to set a missing one."""
    loaded, problems = _load()
    for problem in problems:
        if problem.id in ("esms_voice.E001", "esms_voice.E002"):
            raise EsmsSettingsError(f"{problem.message} {problem.hint}")
    if not (loaded.api_key and loaded.secret_key):  # unreachable: E001/E002 cover it
        raise EsmsSettingsError("ESMS_VOICE credentials are missing.")
    return loaded.api_key, loaded.secret_key


def loaded_settings() -> VoiceSettings:
    """Return the settings as read, wrong values replaced by defaults (for the system checks)."""
    return _load()[0]


def problems() -> list[Problem]:
    """Return every problem with the current settings (for the system checks)."""
    return list(_load()[1])
