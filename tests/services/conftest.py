"""Fixtures of the services tests: the eSMS simulator, a fake broker, the signals sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from django_esms_voice.models import (
    CallbackEvent,
    VoiceCall,
)
from django_esms_voice.signals import call_status_changed, callback_received
from django_esms_voice.tasks import enqueue_calls_task, place_call_task, place_calls_task
from django_esms_voice.testing.simulator import (
    EsmsSimulator,
)

from .helpers import esms_settings


@pytest.fixture(scope="module")
def simulator() -> Iterator[EsmsSimulator]:
    """One fake eSMS server for the module, on a free loopback port."""
    with EsmsSimulator(
        api_key="test-key",
        secret_key="test-secret",
        port=0,
        callback_delay=0.2,
        callback_retry_delay=0.1,
        stall_seconds=2.0,
    ) as sim:
        yield sim


@pytest.fixture
def sim(simulator: EsmsSimulator, settings: Any) -> Iterator[EsmsSimulator]:
    """The simulator, reset, with the app pointed at it and no CallbackUrl."""
    simulator.reset()
    simulator.callback_delay = 0.2
    settings.ESMS_VOICE = esms_settings(simulator)
    yield simulator
    simulator.reset()


@pytest.fixture
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: no test in this module may reach a real one."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    monkeypatch.setattr(enqueue_calls_task, "apply_async", fake.fan_out)
    monkeypatch.setattr(place_calls_task, "apply_async", fake.batch)
    return fake


@pytest.fixture
def signals() -> Iterator[dict[str, list[Any]]]:
    """Record call_status_changed and callback_received as they are sent."""
    sent: dict[str, list[Any]] = {"changed": [], "received": []}

    def on_changed(*, call: VoiceCall, old: str, new: str, event: Any, **kwargs: Any) -> None:
        sent["changed"].append((call.pk, old, new, event))

    def on_received(*, event: CallbackEvent, **kwargs: Any) -> None:
        sent["received"].append(event)

    call_status_changed.connect(on_changed, weak=False)
    callback_received.connect(on_received, weak=False)
    yield sent
    call_status_changed.disconnect(on_changed)
    callback_received.disconnect(on_received)
