"""The account stops by itself under a real worker: the balance runs out, the keys are wrong.

A campaign meets 103 when the simulator's balance is spent, or 101 from the first call when
the keys are wrong: placement pauses once, no call ends rejected, and once the balance is
topped up (the probe resumes) or the keys fixed (an operator resumes) every call is placed
exactly once. bench/account_pause.py runs the same with 10,000 calls and prints the counts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.conf import voice_settings
from django_esms_voice.models import AccountPause, ResumedBy, VoiceCall
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import GET_BALANCE, EsmsSimulator

from .conftest import Harness, wait_until
from .placement import (
    codes_per_call,
    placed_more_or_less_than_once,
    rows,
    statuses,
    wait_handled,
    wait_nothing_in_flight,
    wait_status,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

CALLS = 1000  # bench/account_pause.py: 10,000
PAID_FOR = 300  # calls the balance pays for before it runs out
THREADS, LATENCY = 64, 0.5
WRONG_KEY = "wrong-api-key-9f3c"


def balance_checks(sim: EsmsSimulator) -> int:
    """Return how many GetBalance requests the simulator received."""
    return len([r for r in list(sim.requests) if r.endpoint == GET_BALANCE])


def wait_paused(harness: Harness) -> AccountPause:
    """Wait until placement is paused for the account; return the pause."""
    pause: AccountPause = wait_until(
        lambda: AccountPause.objects.filter(active=True).first(),
        60,
        lambda: f"placement never paused: {statuses()}\n{harness.logs()}",
        0.05,
    )
    return pause


def assert_waiting(refused: int, code: str) -> None:
    """The calls refused for the account wait, pending, as if never attempted, with the code."""
    waiting = VoiceCall.objects.filter(status=CallStatus.PENDING)
    assert waiting.count() == refused
    assert set(waiting.values_list("attempts", "hold")) == {(0, "")}
    assert set(waiting.exclude(last_error_code="").values_list("last_error_code", flat=True)) <= {
        code
    }


def test_a_balance_that_runs_out_pauses_once_and_the_top_up_places_every_call_once(
    harness: Harness,
) -> None:
    sim = harness.sim
    sim.latency = LATENCY
    sim.balance = sim.price_per_call * PAID_FOR
    harness.start_worker(concurrency=THREADS, pool_size=8)

    calls = services.create_calls(rows(CALLS), batch="balance-runs-out")
    pause = wait_paused(harness)

    # However often the sweep asks, one GetBalance per BALANCE_PROBE_INTERVAL; still empty.
    for _ in range(20):
        services.probe_balance()
    assert balance_checks(sim) == 1
    wait_handled(harness, CALLS, 120)
    wait_nothing_in_flight(harness, 30)

    at_pause = statuses()
    refused = codes_per_call(sim, "103")
    print(  # noqa: T201
        f"103: {at_pause} at the pause; {sum(refused.values())} requests refused with 103, "
        f"by {len(refused)} calls"
    )
    assert at_pause == {CallStatus.ACCEPTED: PAID_FOR, CallStatus.PENDING: CALLS - PAID_FOR}
    assert set(refused.values()) == {1}  # the calls in flight when the money ran out, once
    assert len(refused) <= THREADS  # no call claimed after the pause opened was sent
    assert AccountPause.objects.count() == 1
    pause.refresh_from_db()
    assert (pause.code, pause.is_open, pause.last_balance) == ("103", True, Decimal(0))
    assert_waiting(CALLS - PAID_FOR, "103")

    sim.balance = Decimal(10_000_000)  # topped up
    sim.latency = 0.05  # nothing needs to be in flight any more: place the rest quickly
    interval = dt.timedelta(seconds=voice_settings().balance_probe_interval)
    assert services.probe_balance(now=timezone.now() + interval) is not None

    pause.refresh_from_db()
    assert (pause.is_open, pause.ended_by) == (False, ResumedBy.BALANCE_PROBE)
    wait_status(harness, CallStatus.ACCEPTED, CALLS, 120)
    assert statuses() == {CallStatus.ACCEPTED: CALLS}
    assert placed_more_or_less_than_once(sim, calls) == {}
    assert set(codes_per_call(sim, "103").values()) == {1}
    assert AccountPause.objects.count() == 1
    assert balance_checks(sim) == 2


def test_wrong_keys_pause_once_and_every_call_is_placed_once_after_the_fix(
    harness: Harness,
) -> None:
    sim = harness.sim
    sim.latency = LATENCY
    harness.configure(API_KEY=WRONG_KEY)  # what the worker reads when it starts
    harness.start_worker(concurrency=THREADS, pool_size=8)
    count = CALLS // 2

    calls = services.create_calls(rows(count), batch="wrong-keys")
    pause = wait_paused(harness)
    services.sweep()  # while paused: no call enqueued, and no balance probe for 101
    wait_handled(harness, count, 120)
    wait_nothing_in_flight(harness, 30)

    refused = codes_per_call(sim, "101")
    print(  # noqa: T201
        f"101: {statuses()} at the pause; {sum(refused.values())} requests refused with 101, "
        f"by {len(refused)} calls"
    )
    assert statuses() == {CallStatus.PENDING: count}
    assert set(refused.values()) == {1}
    assert len(refused) <= THREADS  # those in flight when the first answer came, no more
    assert AccountPause.objects.count() == 1
    pause.refresh_from_db()
    assert pause.code == "101"
    assert WRONG_KEY not in pause.message
    assert all(WRONG_KEY not in worker.log() for worker in harness.workers)
    assert_waiting(count, "101")

    # The operator fixes ESMS_VOICE['API_KEY'] and restarts the worker (it read its settings
    # when it started), then presses resume.
    harness.stop_workers()
    harness.configure(API_KEY=sim.api_key)
    sim.latency = 0.05
    harness.start_worker(concurrency=THREADS, pool_size=8)
    assert services.resume_placement(by=ResumedBy.OPERATOR) is not None

    wait_status(harness, CallStatus.ACCEPTED, count, 120)
    assert statuses() == {CallStatus.ACCEPTED: count}
    assert placed_more_or_less_than_once(sim, calls) == {}
    assert set(codes_per_call(sim, "101").values()) == {1}
    assert AccountPause.objects.count() == 1
    assert balance_checks(sim) == 0
