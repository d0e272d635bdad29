"""Helpers for your own tests: an outbox of calls, scripted eSMS answers, fake callbacks.

Select the in-memory backend in your test settings (or use the ``esms_voice_outbox``
fixture, which does it for one test)::

    ESMS_VOICE = {..., "BACKEND": "django_esms_voice.backends.LocmemBackend"}

With pytest, load this module as a plugin (``pytest_plugins = ["django_esms_voice.testing"]``
in your top conftest.py): the outbox and the scripts are then reset before every test. With
unittest, call ``reset_outbox()`` in ``setUp``.

The helpers live in ``helpers.py`` and load on first use, so that importing the simulator
(``django_esms_voice.testing.simulator``, which is independent of the app) imports no Django.

PYTEST_DONT_REWRITE: the plugin has no assertions, so pytest need not rewrite it (and does not
warn when a test module imported it before loading it as a plugin).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ImportError:  # unittest users: the helpers work without pytest, the fixtures are left out
    pytest = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ..esms.payloads import CallRequest
    from .helpers import (
        CALLBACK_RESULTS,
        DEFAULT_CID,
        callback_params,
        deliver_callback,
        outbox,
        reset_outbox,
        script_answer,
        script_balance,
        script_status,
    )

__all__ = [
    "CALLBACK_RESULTS",
    "DEFAULT_CID",
    "callback_params",
    "deliver_callback",
    "outbox",
    "reset_outbox",
    "script_answer",
    "script_balance",
    "script_status",
]


def __getattr__(name: str) -> Any:
    """Load a helper from helpers.py on first use (PEP 562)."""
    if name in __all__:
        return getattr(importlib.import_module(".helpers", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the helpers with the module's own names."""
    return sorted({*globals(), *__all__})


# ----------------------------------------------------------------------------- pytest plugin


if pytest is not None:

    @pytest.fixture(autouse=True)
    def _esms_voice_reset_outbox() -> Iterator[None]:
        """Start and end every test with an empty outbox and no scripted answers."""
        from .helpers import reset_outbox

        reset_outbox()
        yield
        reset_outbox()

    @pytest.fixture
    def esms_voice_outbox(settings: Any) -> list[CallRequest]:
        """Select the locmem backend for this test and return its outbox (needs pytest-django)."""
        from ..backends import LOCMEM_BACKEND
        from .helpers import outbox

        current = getattr(settings, "ESMS_VOICE", None)
        current = current if isinstance(current, dict) else {}
        if current.get("BACKEND") != LOCMEM_BACKEND:
            settings.ESMS_VOICE = {**current, "BACKEND": LOCMEM_BACKEND}
        return outbox
