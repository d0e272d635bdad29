"""The API tests' fixtures: test settings, a stand-in broker, users, no throttle history."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from django_esms_voice.tasks import place_call_task
from tests.api.helpers import SETTINGS, client_for, make_user


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ESMS_VOICE = SETTINGS


@pytest.fixture(autouse=True)
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: the API enqueues after commit."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    return fake


@pytest.fixture
def admin(db: Any) -> APIClient:
    """A superuser's client."""
    return client_for(User.objects.create_superuser("root", password="pw"))


@pytest.fixture
def placer(db: Any) -> User:
    """A user who may place and view calls."""
    return make_user("placer", "place_voicecall", "view_voicecall")


@pytest.fixture(autouse=True)
def _no_throttle_history() -> Any:
    """Start every test with no request counted by the throttles (kept in the default cache)."""
    cache.clear()
    yield
    cache.clear()
