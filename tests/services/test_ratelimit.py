"""The calls-per-second limit shared by every worker, on a fake clock."""

from __future__ import annotations

import math

import pytest
from django.core.cache import cache

from django_esms_voice.services import ratelimit

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


class FakeClock:
    """time.time and time.sleep for the rate limiter, without waiting for real."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.slept += seconds


def test_the_rate_limit_spreads_calls_over_time(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    clock = FakeClock(start=1_700_000_000.0)
    monkeypatch.setattr(ratelimit, "time", clock)

    starts, waited = [], 0.0
    for _ in range(30):
        waited += ratelimit.acquire(20)
        starts.append(clock.now)

    # 20 calls per second: 30 calls need at least a second of waiting, and not much more.
    assert waited == pytest.approx(clock.slept)
    assert 1.0 <= clock.slept <= 1.6
    assert starts[1] == starts[0] == 1_700_000_000.0  # the first window's two slots are free
    # No 0.1 s window ever holds more than its 2 calls.
    per_window: dict[int, int] = {}
    for start in starts:
        window = math.floor(start / ratelimit.WINDOW)
        per_window[window] = per_window.get(window, 0) + 1
    assert max(per_window.values()) == 2
    assert len(per_window) == 15


def test_no_rate_limit_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    clock = FakeClock(start=1_700_000_100.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    assert sum(ratelimit.acquire(None) for _ in range(100)) == 0
    assert clock.slept == 0
