"""Two real workers claiming calls to the same numbers at once place at most the cap."""

from __future__ import annotations

from collections import Counter

import pytest

from django_esms_voice import services
from django_esms_voice.services.enqueueing import enqueue_calls
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import MAKE_CALL_RECORD

from .conftest import Harness
from .placement import TEMPLATE, statuses, wait_handled, wait_nothing_in_flight

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

NUMBERS, EACH = 40, 3
#: Advertising at any hour here: the test is about the cap, not the calling window.
ANY_TIME = {"CALLING_WINDOWS": {"advertising": None}}


def test_two_workers_place_one_advertising_call_per_number(harness: Harness) -> None:
    # Three calls to each number, made when no cap applied (before the setting, say).
    harness.configure(**ANY_TIME, FREQUENCY_CAPS={"advertising": None})
    rows = [{"phone": f"0903{n:06d}", "template_id": TEMPLATE} for n in range(NUMBERS)]
    # A number's calls one after the other in the queue: the workers take them at once.
    together = [row for row in rows for _ in range(EACH)]
    calls = services.create_calls(
        together, purpose="advertising", allow_repeats=True, enqueue=False
    )
    # The preset cap again: one call per number per 24 hours.
    harness.configure(FREQUENCY_CAPS={"advertising": {"calls": 1, "hours": 24}})
    harness.sim.latency = 0.5  # a number's first call is still with eSMS when the others claim
    harness.start_worker(concurrency=16)
    harness.start_worker(concurrency=16)

    enqueue_calls([call.pk for call in calls])
    wait_handled(harness, NUMBERS * EACH, 120)
    wait_nothing_in_flight(harness, 30)

    sent = Counter(
        r.params["Phone"] for r in list(harness.sim.requests) if r.endpoint == MAKE_CALL_RECORD
    )
    print(f"caps: {sum(sent.values())} sent for {len(calls)} calls; {statuses()}")  # noqa: T201
    assert sent == Counter({row["phone"]: 1 for row in rows})
    assert statuses() == {CallStatus.ACCEPTED: NUMBERS, CallStatus.CANCELED: NUMBERS * (EACH - 1)}
