"""A call placed on the simulator, its callbacks delivered over HTTP to the real view."""

from __future__ import annotations

from typing import Any

import pytest

from django_esms_voice import services
from django_esms_voice.models import (
    EventOutcome,
)
from django_esms_voice.states import FINAL, CallStatus
from django_esms_voice.testing.simulator import (
    EsmsSimulator,
    Outcome,
    Script,
)

from .helpers import PHONE, esms_settings, new_call

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db(transaction=True)
def test_callbacks_from_esms_reach_the_call(
    sim: EsmsSimulator, settings: Any, live_server: Any, signals: dict[str, list[Any]]
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, CALLBACK_BASE_URL=live_server.url)
    sim.callback_delay = 1.0  # in progress after 0.5 s, final after 1 s: after our answer
    sim.script(PHONE, Script(outcome=Outcome.no_answer(), progress_callback=True))
    call = new_call()

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert sim.wait_for_callbacks(2, timeout=15)

    call.refresh_from_db()
    assert call.status == CallStatus.NO_ANSWER
    assert call.status in FINAL
    events = list(call.events.order_by("id"))
    assert [(e.outcome, e.new_status) for e in events] == [
        (EventOutcome.APPLIED, CallStatus.IN_PROGRESS),
        (EventOutcome.APPLIED, CallStatus.NO_ANSWER),
    ]
    assert {e.method for e in events} == {"GET"}
    assert [d.status for d in sim.callback_deliveries] == [200, 200]
    assert [c[1:3] for c in signals["changed"]] == [
        (CallStatus.SUBMITTING, CallStatus.ACCEPTED),
        (CallStatus.ACCEPTED, CallStatus.IN_PROGRESS),
        (CallStatus.IN_PROGRESS, CallStatus.NO_ANSWER),
    ]
