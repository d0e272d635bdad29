"""Fixtures of the callback tests: no token in any log record, signals, settings, body reads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest

from django_esms_voice.signals import call_status_changed

from .helpers import TOKENS, assert_no_token_logged


@pytest.fixture(autouse=True)
def _no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at every level; fail if a callback token shows up in one."""
    TOKENS.clear()
    for name in (None, "django", "django_esms_voice", "urllib3", "django.db.backends"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    assert_no_token_logged(caplog)


@pytest.fixture
def status_changes() -> Iterator[list[dict[str, Any]]]:
    """Collect call_status_changed signals (thread-safe)."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def receiver(**kwargs: Any) -> None:
        with lock:
            received.append(kwargs)

    call_status_changed.connect(receiver, dispatch_uid="test_callbacks")
    yield received
    call_status_changed.disconnect(dispatch_uid="test_callbacks")


@pytest.fixture
def esms_settings(settings):
    """Change some ESMS_VOICE keys for one test."""

    def change(**values: Any) -> None:
        settings.ESMS_VOICE = {**settings.ESMS_VOICE, **values}

    return change


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every read of a request's body (request.body, POST and DRF use these).

    A WSGI server may still drain an unread body after the answer (runserver's does), so the
    spy sits on the request, not on the stream.
    """
    reads: list[int] = []
    for name in ("read", "readline"):
        real = getattr(HttpRequest, name)

        def spy(self: HttpRequest, *args: Any, _real: Any = real) -> bytes:
            data: bytes = _real(self, *args)
            reads.append(len(data))
            return data

        monkeypatch.setattr(HttpRequest, name, spy)
    return reads
