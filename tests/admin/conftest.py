"""The admin tests' fixtures: a stand-in broker and staff with and without the right to spend."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_esms_voice.tasks import place_call_task
from tests.admin.helpers import PLACE_PERMS, VOICE_PERMS, login, staff


@pytest.fixture(autouse=True)
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: record what would be enqueued."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    return fake


@pytest.fixture
def operator() -> User:
    """Staff who may place calls (and see users, the stand-in host model)."""
    return staff("operator", *PLACE_PERMS, "auth.view_user")


@pytest.fixture
def viewer() -> User:
    """Staff who may see and change calls and add them, but not spend money."""
    return staff("viewer", *VOICE_PERMS, "esms_voice.add_voicecall", "auth.view_user")


@pytest.fixture
def op(operator: User) -> Client:
    return login(operator)


@pytest.fixture
def no_place(viewer: User) -> Client:
    return login(viewer)
