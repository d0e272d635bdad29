"""The simulator tests' fixtures: a fast simulator, and a callback receiver that answers 200."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_esms_voice.testing.simulator import EsmsSimulator
from tests.testing.simulator_helpers import Receiver


@pytest.fixture
def sim() -> Iterator[EsmsSimulator]:
    """Serve a fast simulator: short callback delay, retry delay and stall."""
    with EsmsSimulator(callback_delay=0.05, callback_retry_delay=0.05, stall_seconds=1.0) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Serve a callback receiver that answers 200."""
    server = Receiver()
    yield server
    server.stop()
