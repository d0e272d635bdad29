"""record_result: a delivery stored raw, applied under the row lock, signals after commit."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import transaction

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.models import (
    CallbackEvent,
    EventOutcome,
    EventSource,
    VoiceCall,
)
from django_esms_voice.services import results
from django_esms_voice.signals import call_status_changed
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import (
    EsmsSimulator,
)

from .helpers import ANSWERED, accepted_call, callback_fields, deliver, new_call

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db
def test_a_final_callback_is_applied_and_stored(signals: dict[str, list[Any]]) -> None:
    call = accepted_call()

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.pk
    assert (event.outcome, event.old_status, event.new_status) == (
        EventOutcome.APPLIED,
        CallStatus.ACCEPTED,
        CallStatus.ANSWERED,
    )
    assert (event.source, event.method, event.remote_addr) == ("callback", "GET", "127.0.0.1")
    assert "CallStatus=ANSWERED" in event.raw
    assert event.parsed["call_status"] == "ANSWERED"
    assert event.parsed["price"] == "500.0000"
    assert event.fingerprint == services.result_fingerprint(parse_call_result(callback_fields()))
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert (call.call_status, call.duration, call.ivr_pressed) == ("ANSWERED", 13, "1")
    assert (call.price, call.sent_result, call.cid, call.send_status) == (
        Decimal("500"),
        1,
        "02871002454",
        5,
    )
    assert call.completed_at is not None
    assert list(call.events.all()) == [event]


@pytest.mark.django_db
def test_an_invalid_delivery_is_stored_and_changes_nothing() -> None:
    call = accepted_call()

    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.CALLBACK,
        raw="ReferenceId=x",
        result=None,
        error="SendStatus is missing",
    )

    assert event is not None
    assert event.pk
    assert (event.outcome, event.error, event.parsed, event.raw) == (
        EventOutcome.INVALID,
        "SendStatus is missing",
        {},
        "ReferenceId=x",
    )
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_a_result_for_an_unknown_call_stores_nothing(signals: dict[str, list[Any]]) -> None:
    accepted_call()
    fields = callback_fields()

    event = services.record_result(
        call_uuid=uuid.uuid4(),
        source=EventSource.CALLBACK,
        raw=urlencode(fields),
        result=parse_call_result(fields),
    )

    assert event is None
    assert not CallbackEvent.objects.exists()
    assert signals == {"changed": [], "received": []}


@pytest.mark.django_db
def test_signals_are_sent_after_commit_once_per_real_change(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()
    progress = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    deliveries = [
        (progress, EventOutcome.APPLIED),
        (callback_fields(Price=""), EventOutcome.APPLIED),
        (callback_fields(Price=""), EventOutcome.DUPLICATE),
        (callback_fields(), EventOutcome.MERGED),
        (progress, EventOutcome.DUPLICATE),
        (callback_fields(CallStatus="NO ANSWER"), EventOutcome.CONFLICT),
    ]
    events = []
    for fields, outcome in deliveries:
        with django_capture_on_commit_callbacks(execute=True):
            event = deliver(call, fields)
            assert event is not None
            assert event.outcome == outcome
            # Nothing is sent before the transaction commits.
            assert len(signals["received"]) == len(events)
        events.append(event)

    assert signals["received"] == events
    assert [change[:3] for change in signals["changed"]] == [
        (call.pk, CallStatus.ACCEPTED, CallStatus.IN_PROGRESS),
        (call.pk, CallStatus.IN_PROGRESS, CallStatus.ANSWERED),
    ]
    assert [change[3] for change in signals["changed"]] == events[:2]


@pytest.mark.django_db
def test_a_rolled_back_result_sends_no_signal(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()

    def apply_then_fail() -> None:
        with transaction.atomic():
            deliver(call, callback_fields())
            raise RuntimeError("the caller's transaction fails")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        apply_then_fail()
    assert signals == {"changed": [], "received": []}
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_an_error_while_judging_still_stores_the_delivery(
    monkeypatch: pytest.MonkeyPatch,
    signals: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    call = accepted_call()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(results, "judge", broken)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError, match="boom"),
    ):
        deliver(call, callback_fields())

    (event,) = CallbackEvent.objects.all()
    assert event.outcome == EventOutcome.ERROR
    assert event.error == "RuntimeError: boom"
    assert "CallStatus=ANSWERED" in event.raw
    assert event.call_id == call.uuid
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    assert signals["changed"] == []
    assert [e.pk for e in signals["received"]] == [event.pk]  # every stored delivery


@pytest.mark.django_db
def test_status_changed_receivers_get_the_call_as_it_now_is(
    sim: EsmsSimulator, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[tuple[str, str, str]] = []

    def receiver(*, call: VoiceCall, new: str, **kwargs: Any) -> None:
        seen.append((call.status, new, call.smsid))

    call_status_changed.connect(receiver, weak=False)
    try:
        call = new_call()
        with django_capture_on_commit_callbacks(execute=True):
            services.place_call(call.pk)
    finally:
        call_status_changed.disconnect(receiver)
    [(status, new, smsid)] = seen
    assert status == new == CallStatus.ACCEPTED
    assert smsid  # the SMSID eSMS just returned, not the empty one the call had


@pytest.mark.django_db
def test_a_poll_answer_is_stored_with_credentials_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_esms_voice import backends

    call = accepted_call()
    echoed = {**ANSWERED, "Debug": "ApiKey=APIKEY-SENTINEL-9&SecretKey=SECRET-SENTINEL-9"}

    class Echoing:
        def get_send_status(self, smsid: str) -> Any:
            return parse_call_result(echoed)

    monkeypatch.setattr(results, "get_backend", lambda: Echoing())
    event = services.refresh_status(call)

    assert event is not None
    assert "SENTINEL" not in event.raw
    assert backends  # the module the real backend comes from


@pytest.mark.django_db
def test_an_advance_on_the_general_path_takes_five_queries(django_assert_num_queries: Any) -> None:
    """Every column an advance writes comes with the row lock: none is loaded on its own."""
    call = accepted_call()
    # Savepoint, SELECT … FOR UPDATE, UPDATE the call, INSERT the event, release.
    with django_assert_num_queries(5):
        event = deliver(call, callback_fields())
    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
