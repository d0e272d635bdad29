"""The admin tests' fixtures: a stand-in broker; staff who may or may not spend or run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_esms_voice.admin.permissions import RUN_CAMPAIGN_PERMISSION
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.tasks import place_call_task
from django_esms_voice.testing import reset_outbox
from tests.admin.helpers import PLACE_PERMS, VOICE_PERMS, login, staff


@pytest.fixture(autouse=True)
def locmem_esms(settings: Any) -> Iterator[None]:
    """eSMS answers from the locmem backend: the confirmation pages read its balance."""
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "BACKEND": LOCMEM_BACKEND}
    reset_outbox()  # forgets the cached balance too
    yield
    reset_outbox()


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


@pytest.fixture
def runner() -> Client:
    """Staff who see calls and may run campaigns."""
    return login(staff("runner", *VOICE_PERMS, RUN_CAMPAIGN_PERMISSION))


@pytest.fixture
def watcher() -> Client:
    """Staff who see calls (and so campaigns) but may neither run campaigns nor place calls."""
    return login(staff("watcher", *VOICE_PERMS))
