"""A calls-per-second limit that holds across every worker, kept in Django's shared cache."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from django.core.cache import caches

CACHE_PREFIX = "esms_voice:rate:"
WINDOW = 0.1  # seconds; short windows keep bursts at a window's edge small


@dataclass(frozen=True)
class Slot:
    """A call's place in a window of the limit (key None: no limit), and the wait for it."""

    key: str | None
    waited: float = 0.0


def acquire(rate: float | None, *, cache_alias: str = "default", max_wait: float = 60.0) -> float:
    """Wait until a call may start under `rate` calls per second; return the seconds waited."""
    return take(rate, cache_alias=cache_alias, max_wait=max_wait).waited


def give_back(slot: Slot, *, cache_alias: str = "default") -> None:
    """Return a slot no request used (the claim was refused) while its window is current."""
    if slot.key is not None and slot.key == f"{CACHE_PREFIX}{math.floor(time.time() / WINDOW)}":
        with contextlib.suppress(ValueError):  # evicted meanwhile: nothing to give back
            caches[cache_alias].decr(slot.key)


def take(rate: float | None, *, cache_alias: str = "default", max_wait: float = 60.0) -> Slot:
    """Wait until a call may start under `rate` calls per second; return the slot taken."""
    if not rate:
        return Slot(None)
    cache = caches[cache_alias]
    per_window = rate * WINDOW
    waited = 0.0
    while True:
        now = time.time()
        window = math.floor(now / WINDOW)
        key = f"{CACHE_PREFIX}{window}"
        cache.add(key, 0, timeout=5)
        try:
            used = cache.incr(key)
        except ValueError:  # evicted between add and incr: start the window again
            cache.add(key, 1, timeout=5)
            used = 1
        # A fractional rate (0.5/s) spreads its allowance over several windows.
        allowed = math.floor((window + 1) * per_window) - math.floor(window * per_window)
        if used <= allowed:
            return Slot(key, waited)
        if waited >= max_wait:
            raise TimeoutError(f"rate limit {rate}/s: no slot within {max_wait:g} s")
        pause = (window + 1) * WINDOW - now + 0.001
        time.sleep(pause)
        waited += pause
