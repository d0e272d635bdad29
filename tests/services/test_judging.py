"""A result judged against its call: applied, merged, duplicate, stale, conflict, correction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.models import (
    CallbackEvent,
    EventOutcome,
    EventSource,
)
from django_esms_voice.states import CallStatus

from .helpers import (
    ANSWERED,
    IN_PROGRESS,
    NO_ANSWER,
    SMSID,
    accepted_call,
    age,
    callback_fields,
    deliver,
)

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db
def test_the_same_callback_twice_is_a_duplicate() -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    call.refresh_from_db()
    before = {f: getattr(call, f) for f in ("status", "price", "duration", "completed_at")}

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.outcome == EventOutcome.DUPLICATE
    call.refresh_from_db()
    assert {f: getattr(call, f) for f in before} == before
    assert CallbackEvent.objects.filter(call=call).count() == 2


@pytest.mark.django_db
def test_a_later_price_is_merged_into_the_final_call() -> None:
    call = accepted_call()
    first = deliver(call, callback_fields(Price=""))
    assert first is not None
    assert first.outcome == EventOutcome.APPLIED
    call.refresh_from_db()
    assert call.price is None

    event = deliver(call, callback_fields(Price="700.0000"))

    assert event is not None
    assert event.outcome == EventOutcome.MERGED
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.ANSWERED)
    call.refresh_from_db()
    assert (call.status, call.price) == (CallStatus.ANSWERED, Decimal("700"))


@pytest.mark.django_db
def test_a_late_in_progress_is_out_of_order_and_changes_nothing() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    late = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    event = deliver(call, late)

    assert event is not None
    assert event.outcome == EventOutcome.OUT_OF_ORDER
    call.refresh_from_db()
    assert (call.status, call.send_status, call.duration, call.price) == (
        CallStatus.ANSWERED,
        5,
        13,
        Decimal("500"),
    )


@pytest.mark.django_db
def test_a_conflicting_callback_does_not_overwrite_a_final_result() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    no_answer = callback_fields(CallStatus="NO ANSWER", CallDuration="0", Ivr="", Price="0.0000")
    event = deliver(call, no_answer)

    assert event is not None
    assert event.outcome == EventOutcome.CONFLICT
    assert event.new_status == CallStatus.ANSWERED
    call.refresh_from_db()
    assert (call.status, call.call_status, call.duration, call.price) == (
        CallStatus.ANSWERED,
        "ANSWERED",
        13,
        Decimal("500"),
    )


@pytest.mark.django_db(transaction=True)  # autocommit: the PostgreSQL fast path is live too
def test_a_second_final_callback_with_other_values_is_a_conflict_and_changes_nothing(
    signals: dict[str, list[Any]],
) -> None:
    call = accepted_call()
    first = deliver(call, callback_fields(CID=""))
    assert first is not None
    assert first.outcome == EventOutcome.APPLIED
    signals["changed"].clear()

    rewrite = callback_fields(CallDuration="9999", Price="0.0001", Ivr="9")
    event = deliver(call, rewrite)

    assert event is not None
    assert event.outcome == EventOutcome.CONFLICT
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.ANSWERED)
    assert event.error == (
        "Not applied, differs from the call: duration (s): 13 → 9999; "
        "key pressed: 1 → 9; price: 500.0000 → 0.0001"
    )
    call.refresh_from_db()
    # Nothing of it applied, not even the CID the call did not have: the delivery is suspect.
    assert (call.status, call.duration, call.price, call.ivr_pressed, call.cid) == (
        CallStatus.ANSWERED,
        13,
        Decimal("500"),
        "1",
        "",
    )
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert (stored.outcome, stored.error) == (EventOutcome.CONFLICT, event.error)
    assert signals["changed"] == []  # no status changed
    assert [(e.pk, e.outcome) for e in signals["received"][-1:]] == [
        (event.pk, EventOutcome.CONFLICT)
    ]
    # The same delivery again is only a duplicate of the conflict.
    again = deliver(call, rewrite)
    assert again is not None
    assert again.outcome == EventOutcome.DUPLICATE


@pytest.mark.django_db
def test_an_authoritative_poll_corrects_a_stored_value_and_says_what_it_replaced(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    poll = {**ANSWERED, "CallDuration": "14", "Ivr": "1"}

    with django_capture_on_commit_callbacks(execute=True):
        event = deliver(call, poll, source=EventSource.POLL, authoritative=True)

    assert event is not None
    assert event.outcome == EventOutcome.CORRECTED
    assert event.error == "Corrected by a status poll: duration (s): 13 → 14"
    call.refresh_from_db()
    assert (call.status, call.duration, call.price) == (CallStatus.ANSWERED, 14, Decimal("500"))
    assert signals["changed"] == []  # the status is the same: callback_received tells
    assert [e.outcome for e in signals["received"]] == [EventOutcome.CORRECTED]


@pytest.mark.django_db
def test_a_correction_of_the_status_says_what_it_replaced() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    event = deliver(call, {**NO_ANSWER, "CallDuration": "0"}, authoritative=True)

    assert event is not None
    assert event.outcome == EventOutcome.CORRECTED
    assert event.error == (
        "Corrected by a status poll: status: Answered → No answer; duration (s): 13 → 0"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("authoritative", [False, True], ids=["callback", "poll"])
def test_send_status_never_goes_back_from_sent_to_waiting(authoritative: bool) -> None:
    call = accepted_call()
    waiting = {**IN_PROGRESS, "SendStatus": "2"}
    assert deliver(call, waiting) is not None
    sent = deliver(call, IN_PROGRESS)  # 2 "waiting to send", then 7 "sent": newer
    assert sent is not None
    assert sent.outcome == EventOutcome.MERGED
    call.refresh_from_db()
    assert (call.status, call.send_status) == (CallStatus.IN_PROGRESS, 7)

    late = deliver(call, {**waiting, "CID": "0281"}, authoritative=authoritative)

    assert late is not None
    assert late.outcome == EventOutcome.OUT_OF_ORDER
    call.refresh_from_db()
    assert (call.status, call.send_status, call.cid) == (CallStatus.IN_PROGRESS, 7, "")


@pytest.mark.django_db
def test_in_progress_placeholders_are_not_a_result_a_final_report_contradicts() -> None:
    call = accepted_call()
    progress = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    deliver(call, progress)
    call.refresh_from_db()
    assert (call.duration, call.price, call.sent_result) == (None, None, 1)
    # The poll's answer carries no Price; the callback that follows brings it.
    poll = {**ANSWERED, "CallDuration": "13", "Ivr": "1"}
    deliver(call, poll, source=EventSource.POLL, authoritative=True)

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.outcome == EventOutcome.MERGED
    call.refresh_from_db()
    assert (call.duration, call.price, call.cid) == (13, Decimal("500"), "02871002454")


@pytest.mark.django_db
def test_an_authoritative_poll_corrects_a_final_result() -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    # GetSendStatus: upper-case id, NOANSWERED, numbers as JSON numbers.
    answer = {
        "CallDuration": 0,
        "CallStatus": "NOANSWERED",
        "CodeResponse": "100",
        "Ivr": "",
        "ReferenceId": SMSID.upper(),
        "SendStatus": 5,
        "SentResult": 1,
    }

    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.POLL,
        raw=str(answer),
        result=parse_call_result(answer),
        authoritative=True,
    )

    assert event is not None
    assert (event.outcome, event.source) == (EventOutcome.CORRECTED, "poll")
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.NO_ANSWER)
    call.refresh_from_db()
    assert (call.status, call.call_status, call.duration) == (
        CallStatus.NO_ANSWER,
        "NOANSWERED",
        0,
    )


@pytest.mark.django_db
def test_a_reference_id_of_another_call_is_a_mismatch() -> None:
    call = accepted_call()

    event = deliver(call, callback_fields(smsid="00000000-0000-0000-0000-000000000000"))

    assert event is not None
    assert event.outcome == EventOutcome.MISMATCH
    call.refresh_from_db()
    assert (call.status, call.smsid, call.price) == (CallStatus.ACCEPTED, SMSID, None)


@pytest.mark.django_db
def test_a_call_accepted_through_124_adopts_the_reference_id() -> None:
    call = accepted_call(smsid="")

    event = deliver(call, callback_fields(smsid=f" {SMSID.upper()} ", Price=""))

    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
    call.refresh_from_db()
    assert (call.status, call.smsid) == (CallStatus.ANSWERED, SMSID.upper())
    # From now on the id is checked: another one is a mismatch, the same in any case is not.
    other = deliver(call, callback_fields(smsid="11111111-2222-3333-4444-555555555555"))
    assert other is not None
    assert other.outcome == EventOutcome.MISMATCH
    same = deliver(call, callback_fields(smsid=SMSID.lower(), Price="600.0000"))
    assert same is not None
    assert same.outcome == EventOutcome.MERGED


@pytest.mark.django_db
def test_a_result_that_says_nothing_known_is_invalid() -> None:
    call = accepted_call()
    event = deliver(call, callback_fields(CallStatus="", SentResult="1"))
    assert event is not None
    assert event.outcome == EventOutcome.INVALID
    call.refresh_from_db()
    assert (call.status, call.price) == (CallStatus.ACCEPTED, None)


@pytest.mark.django_db
def test_a_call_revived_from_error_is_open_again_and_loses_its_error() -> None:
    call = accepted_call()
    age(
        call,
        status=CallStatus.ERROR,
        completed_at=timezone.now(),
        last_error_code="no_result",
        last_error_message="no result",
    )
    deliver(call, IN_PROGRESS)
    call.refresh_from_db()
    assert (call.status, call.completed_at) == (CallStatus.IN_PROGRESS, None)
    assert (call.last_error_code, call.last_error_message) == ("", "")


@pytest.mark.django_db
def test_a_poll_is_not_dropped_because_a_conflicting_callback_had_the_same_fields() -> None:
    call = accepted_call()
    deliver(call, ANSWERED)
    conflicting = deliver(call, NO_ANSWER)  # a callback cannot overturn a final result
    assert conflicting is not None
    assert conflicting.outcome == EventOutcome.CONFLICT

    poll = deliver(call, NO_ANSWER, source=EventSource.POLL, authoritative=True)

    assert poll is not None
    assert poll.outcome == EventOutcome.CORRECTED
    call.refresh_from_db()
    assert call.status == CallStatus.NO_ANSWER
