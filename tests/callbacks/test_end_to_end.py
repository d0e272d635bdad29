"""Calls placed through the simulator, whose callbacks reach a live server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from django_esms_voice import services
from django_esms_voice.models import (
    EventOutcome,
)
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script

from .helpers import (
    PHONE,
    assert_no_token_logged,
    events,
    url_for,
)


@pytest.fixture
def simulator() -> Iterator[EsmsSimulator]:
    """Play eSMS on loopback, with fast callbacks."""
    with EsmsSimulator(callback_delay=0.1, callback_retry_delay=0.1, stall_seconds=1.0) as sim:
        yield sim


@pytest.fixture
def through_simulator(live_server, simulator, esms_settings) -> EsmsSimulator:
    """Send calls to the simulator, with callback URLs pointing at the live server."""
    esms_settings(
        BASE_URL=simulator.base_url,
        BALANCE_URL=simulator.balance_url,
        CALLBACK_BASE_URL=live_server.url,
    )
    return simulator


E2E = {
    "answered": (Script(outcome=Outcome.answered(ivr="1")), 1, CallStatus.ANSWERED,
                 [EventOutcome.APPLIED]),
    "no_answer": (Script(outcome=Outcome.no_answer()), 1, CallStatus.NO_ANSWER,
                  [EventOutcome.APPLIED]),
    "failed": (Script(outcome=Outcome.failed()), 1, CallStatus.FAILED, [EventOutcome.APPLIED]),
    "duplicate": (Script(callbacks="duplicate"), 2, CallStatus.ANSWERED,
                  [EventOutcome.APPLIED, EventOutcome.DUPLICATE]),
    "out_of_order": (Script(callbacks="out_of_order"), 2, CallStatus.ANSWERED,
                     [EventOutcome.APPLIED, EventOutcome.OUT_OF_ORDER]),
    "progress_out_of_order": (Script(callbacks="out_of_order", progress_callback=True), 3,
                     CallStatus.ANSWERED,
                     # the late in-progress repeats the first one word for word: a duplicate
                     [EventOutcome.APPLIED, EventOutcome.APPLIED, EventOutcome.DUPLICATE]),
    "progress": (Script(outcome=Outcome.no_answer(), progress_callback=True), 2,
                 CallStatus.NO_ANSWER, [EventOutcome.APPLIED, EventOutcome.APPLIED]),
}  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(E2E))
def test_end_to_end_through_the_simulator(through_simulator: EsmsSimulator, case: str) -> None:
    script, callbacks, final, outcomes = E2E[case]
    through_simulator.default = script
    call = services.create_call(enqueue=False, phone=PHONE, template_id="42")
    url_for(call.uuid)  # remember the token, so the log check looks for it

    placed = services.place_call(call.pk)

    assert placed.status == CallStatus.ACCEPTED
    assert through_simulator.wait_for_callbacks(callbacks, timeout=15)
    call.refresh_from_db()
    assert call.status == final
    simulated = through_simulator.find_call(call.smsid)
    assert simulated is not None
    assert [e.outcome for e in events(call)] == outcomes
    assert all(d.ok for d in through_simulator.callback_deliveries)
    if final == CallStatus.ANSWERED:
        assert call.ivr_pressed == simulated.outcome.ivr
        assert call.duration == simulated.outcome.duration
    assert call.price == Decimal(simulated.outcome.price)


@pytest.mark.django_db(transaction=True)
def test_placing_a_call_does_not_log_its_callback_token(
    live_server, simulator, esms_settings, caplog
) -> None:
    esms_settings(
        BASE_URL=simulator.base_url,
        BALANCE_URL=simulator.balance_url,
        CALLBACK_BASE_URL=live_server.url,
    )
    call = services.create_call(enqueue=False, phone=PHONE, template_id="42")
    url_for(call.uuid)

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert simulator.wait_for_callbacks(1, timeout=15)
    assert_no_token_logged(caplog)
