"""Pausing and canceling a campaign of 1,000 calls while a real worker is placing them.

What is proved: once the pause (or cancel) has committed, the simulator receives a request
only for a call that was already claimed (submitting) when it committed; a held or canceled
call is never sent; after a resume every call is placed exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from django_esms_voice import services
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.states import CallStatus, Hold

from .conftest import Harness
from .placement import (
    make_calls,
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

CALLS = 1000
#: Enough threads and provider latency that ~150 calls are on their way when the pause commits.
THREADS, LATENCY = 160, 3.0
STOP_AFTER = 200  # accepted calls before the pause or cancel


def start_campaign(harness: Harness) -> tuple[Campaign, list[VoiceCall]]:
    """Start a worker and a 1,000-call campaign; return once STOP_AFTER calls are accepted."""
    harness.sim.latency = LATENCY
    harness.start_worker(concurrency=THREADS, pool_size=16)
    calls = services.create_calls(rows(CALLS), batch="in-flight")
    assert calls[0].campaign is not None
    wait_status(harness, CallStatus.ACCEPTED, STOP_AFTER, 60)
    return calls[0].campaign, calls


def stop(campaign: Campaign, act: Callable[[Campaign], int]) -> tuple[int, set[str], float]:
    """Pause or cancel the campaign; return its count, the calls claimed then, the commit time."""
    with transaction.atomic():
        count = act(campaign)
        # In the same transaction: the calls the pause's UPDATE found claimed (in flight).
        claimed = VoiceCall.objects.filter(campaign=campaign, status=CallStatus.SUBMITTING)
        in_flight = {str(uuid) for uuid in claimed.values_list("uuid", flat=True)}
    return count, in_flight, time.monotonic()


def uuids(**filters: Any) -> set[str]:
    """Return the RequestIds (uuids) of the calls matching filters."""
    found = VoiceCall.objects.filter(**filters).values_list("uuid", flat=True)
    return {str(uuid) for uuid in found}


def test_no_call_is_sent_after_the_pause_commits_and_resume_places_each_once(
    harness: Harness,
) -> None:
    campaign, calls = start_campaign(harness)

    held, in_flight, committed = stop(campaign, services.pause_campaign)

    wait_handled(harness, CALLS, 120)  # every call's message was read by the worker
    wait_nothing_in_flight(harness, 30)
    at_pause = statuses()
    sent_after = {rid for rid, _ in make_calls(harness.sim, after=committed)}
    held_calls = uuids(hold=Hold.CAMPAIGN_PAUSED)
    print(  # noqa: T201
        f"pause: {held} held, {len(in_flight)} in flight at the commit, "
        f"{len(sent_after)} requests received after it; then {at_pause}"
    )
    assert len(in_flight) > 0, "nothing was in flight: the test proves nothing"
    assert held > 0, "nothing was left to hold: stop earlier"
    assert sent_after - in_flight == set()
    assert len(held_calls) == held == at_pause[CallStatus.PENDING]
    assert {rid for rid, _ in make_calls(harness.sim)} & held_calls == set()
    assert at_pause[CallStatus.ACCEPTED] == CALLS - held

    harness.sim.latency = 0.05  # nothing needs to be in flight any more
    resumed_at = time.monotonic()
    assert services.resume_campaign(campaign) == held

    wait_status(harness, CallStatus.ACCEPTED, CALLS, 120)
    assert statuses() == {CallStatus.ACCEPTED: CALLS}
    assert placed_more_or_less_than_once(harness.sim, calls) == {}
    assert {rid for rid, _ in make_calls(harness.sim, after=resumed_at)} == held_calls


def test_no_call_is_sent_after_the_cancel_commits(harness: Harness) -> None:
    campaign, calls = start_campaign(harness)

    canceled, in_flight, committed = stop(campaign, services.cancel_campaign)

    wait_handled(harness, CALLS, 120)
    wait_nothing_in_flight(harness, 30)
    final = statuses()
    sent_after = {rid for rid, _ in make_calls(harness.sim, after=committed)}
    canceled_calls = uuids(status=CallStatus.CANCELED)
    print(  # noqa: T201
        f"cancel: {canceled} canceled, {len(in_flight)} in flight at the commit, "
        f"{len(sent_after)} requests received after it; then {final}"
    )
    assert len(in_flight) > 0, "nothing was in flight: the test proves nothing"
    assert canceled > 0
    assert sent_after - in_flight == set()
    assert {rid for rid, _ in make_calls(harness.sim)} & canceled_calls == set()
    assert final == {CallStatus.ACCEPTED: CALLS - canceled, CallStatus.CANCELED: canceled}
    accepted = VoiceCall.objects.filter(status=CallStatus.ACCEPTED)
    assert placed_more_or_less_than_once(harness.sim, accepted) == {}
    assert len(calls) == CALLS
