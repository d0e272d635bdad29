"""How calls leave the process: the real HTTP backend, and a locmem backend for tests.

A backend has three methods, the three things the app asks eSMS: place a call, ask for a
call's state, read the balance. ``ESMS_VOICE["BACKEND"]`` names the class; ``get_backend()``
returns the configured instance. The services never talk to the client directly, so a test
settings file can swap eSMS for ``LocmemBackend`` and assert against its outbox. Every backend
the app ships inherits ``BaseBackend``, which fills the ESMS_VOICE call defaults once.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from ..conf import per_settings, voice_settings
from .base import BaseBackend, VoiceBackend, with_defaults
from .http import HttpBackend
from .locmem import LocmemBackend

__all__ = [
    "LOCMEM_BACKEND",
    "BaseBackend",
    "HttpBackend",
    "LocmemBackend",
    "VoiceBackend",
    "get_backend",
    "with_defaults",
]

LOCMEM_BACKEND = "django_esms_voice.backends.LocmemBackend"


@per_settings
def get_backend() -> VoiceBackend:
    """Return the backend ESMS_VOICE["BACKEND"] names, built once (again when it changes)."""
    backend_class: Any = import_string(voice_settings().backend)
    backend: VoiceBackend = backend_class()
    return backend
