"""Reprocessing failed events: the stored raw judged again, the result recorded on the event."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, connection
from django.test import Client

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.models import CallbackEvent, EventOutcome, EventSource, VoiceCall
from django_esms_voice.services import reprocessing, results
from django_esms_voice.signing import callback_path
from django_esms_voice.states import CallStatus
from tests.concurrency import another_session_waits_for_a_lock

from .helpers import ANSWERED, IN_PROGRESS, SMSID, accepted_call, callback_fields

REFUSED = "no space left for calls (test)"


@contextmanager
def refusing_call_updates(message: str = REFUSED) -> Iterator[None]:
    """Have the database refuse every UPDATE of a call, as a failing trigger would."""
    table = connection.ops.quote_name(VoiceCall._meta.db_table)
    quoted = message.replace("'", "''")
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{quoted}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER test_refuse BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{quoted}'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(f"DROP TRIGGER test_refuse ON {table}")
                cursor.execute("DROP FUNCTION test_refuse()")
            else:
                cursor.execute("DROP TRIGGER test_refuse")


def get(call: VoiceCall, query: str) -> Any:
    """Send a callback as eSMS does, through the view."""
    return Client().get(f"{callback_path(call.uuid)}?{query}")


def refused_delivery(call: VoiceCall, fields: dict[str, str] | None = None) -> CallbackEvent:
    """Deliver a callback while the database refuses to update the call: stored "error"."""
    with refusing_call_updates():
        assert get(call, urlencode(fields or callback_fields())).status_code == 500
    event = CallbackEvent.objects.filter(call=call).latest("id")
    assert event.outcome == EventOutcome.ERROR
    return event


def snapshot(call: VoiceCall) -> dict[str, Any]:
    return VoiceCall.objects.filter(pk=call.pk).values().get()


def row(event: CallbackEvent) -> dict[str, Any]:
    return CallbackEvent.objects.filter(pk=event.pk).values().get()


@pytest.mark.django_db(transaction=True)  # on PostgreSQL the delivery tries the fast path first
def test_an_event_the_database_refused_is_reprocessed_and_the_call_moves_on(
    signals: dict[str, list[Any]],
) -> None:
    call = accepted_call()
    event = refused_delivery(call)
    stored = row(event)
    assert REFUSED in event.error
    signals["received"].clear()

    again = services.reprocess_event(event)

    assert again.pk == event.pk
    assert CallbackEvent.objects.count() == 1  # the event's own row, no new one
    after = row(event)
    assert (after["outcome"], after["old_status"], after["new_status"], after["error"]) == (
        EventOutcome.APPLIED,
        CallStatus.ACCEPTED,
        CallStatus.ANSWERED,
        "",
    )
    assert after["reprocess_count"] == 1
    assert after["reprocessed_at"] is not None
    kept = ("raw", "received_at", "remote_addr", "method", "source", "call_id")
    assert {k: after[k] for k in kept} == {k: stored[k] for k in kept}
    call.refresh_from_db()
    assert (call.status, call.duration, call.ivr_pressed) == (CallStatus.ANSWERED, 13, "1")
    assert [(pk, old, new, e.pk) for pk, old, new, e in signals["changed"]] == [
        (call.pk, CallStatus.ACCEPTED, CallStatus.ANSWERED, event.pk)
    ]
    assert [e.pk for e in signals["received"]] == [event.pk]  # told again, with its new outcome


@pytest.mark.django_db
def test_an_invalid_event_stays_invalid_with_its_reason() -> None:
    call = accepted_call()
    assert get(call, urlencode(callback_fields(SendStatus="9"))).json() == {"outcome": "invalid"}
    event = CallbackEvent.objects.get()
    reason = event.error
    assert reason.startswith("SendStatus 9 is not one of")
    before = snapshot(call)

    again = services.reprocess_event(event)

    assert (again.outcome, again.error, again.reprocess_count) == (EventOutcome.INVALID, reason, 1)
    assert row(event)["error"] == reason
    assert snapshot(call) == before


@pytest.mark.django_db
def test_reprocessing_twice_changes_nothing_the_second_time() -> None:
    call = accepted_call()
    event = refused_delivery(call)
    services.reprocess_event(event)
    first, call_after = row(event), snapshot(call)

    with pytest.raises(services.NotReprocessable, match="already processed"):
        services.reprocess_event(event)

    assert row(event) == first  # still "applied", counted once
    assert snapshot(call) == call_after
    assert services.reprocess_events(services.failed_events()).entries == []


@pytest.mark.django_db
def test_a_delivery_esms_sent_again_meanwhile_makes_the_event_a_duplicate() -> None:
    call = accepted_call()
    event = refused_delivery(call)
    assert get(call, urlencode(callback_fields())).json() == {"outcome": "applied"}  # eSMS retried
    before = snapshot(call)

    again = services.reprocess_event(event)

    assert again.outcome == EventOutcome.DUPLICATE
    assert snapshot(call) == before


@pytest.mark.django_db
def test_deliveries_are_reprocessed_oldest_first() -> None:
    call = accepted_call()
    progress = refused_delivery(call, IN_PROGRESS)
    final = refused_delivery(call, ANSWERED)

    report = services.reprocess_events(services.failed_events())

    assert [(e.event.pk, e.event.outcome) for e in report.entries] == [
        (progress.pk, EventOutcome.APPLIED),  # newest first, it would be out of order
        (final.pk, EventOutcome.APPLIED),
    ]
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


@pytest.mark.django_db
def test_a_run_reports_counts_by_new_outcome_and_skips_by_reason() -> None:
    call = accepted_call()
    refused_delivery(call, IN_PROGRESS)
    refused_delivery(call, ANSWERED)
    get(call, urlencode(callback_fields(SendStatus="9")))
    CallbackEvent.objects.create(call=None, outcome=EventOutcome.ERROR, raw="SendStatus=5")
    CallbackEvent.objects.create(call=call, outcome=EventOutcome.APPLIED, raw="SendStatus=5")

    report = services.reprocess_events(services.failed_events())

    assert report.outcomes() == {EventOutcome.APPLIED: 2, EventOutcome.INVALID: 1}
    assert [e.skipped.label for e in report.skipped if e.skipped] == ["no call"]
    assert str(report) == "3 events reprocessed (Applied: 2, Invalid: 1); 1 skipped: no call (1)."
    assert not report.succeeded


@pytest.mark.django_db
def test_a_dry_run_writes_nothing() -> None:
    call = accepted_call()
    event = refused_delivery(call)
    CallbackEvent.objects.create(call=None, outcome=EventOutcome.INVALID, raw="x=1")
    before, stored = snapshot(call), row(event)

    report = services.reprocess_events(services.failed_events(), dry_run=True)

    assert str(report) == "1 event would be reprocessed; 1 skipped: no call (1)."
    assert (snapshot(call), row(event)) == (before, stored)


@pytest.mark.django_db
def test_a_failure_while_reprocessing_is_recorded_on_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = accepted_call()
    event = refused_delivery(call)
    before = snapshot(call)

    with refusing_call_updates("still refused (test)"):
        again = services.reprocess_event(event)

    assert again.outcome == EventOutcome.ERROR
    stored = row(event)
    assert (stored["outcome"], stored["reprocess_count"]) == (EventOutcome.ERROR, 1)
    assert "still refused (test)" in stored["error"]
    assert snapshot(call) == before
    [record] = [r for r in caplog.records if r.name == reprocessing.__name__]
    assert record.levelno == logging.ERROR
    assert "still refused (test)" in record.getMessage()


@pytest.mark.django_db
def test_reprocessing_one_event_takes_eight_queries(django_assert_num_queries: Any) -> None:
    call = accepted_call()
    event = refused_delivery(call)
    # Event lock, call lock, call UPDATE, event UPDATE; a savepoint each for both transactions.
    with django_assert_num_queries(8):
        services.reprocess_event(event)


@pytest.mark.django_db
def test_events_that_cannot_be_read_as_they_arrived_are_skipped_unchanged() -> None:
    call = accepted_call()
    with refusing_call_updates():
        form = "application/x-www-form-urlencoded"
        post = Client().post(callback_path(call.uuid), urlencode(callback_fields()), form)
    assert post.status_code == 500
    cases = {
        "POST delivery": CallbackEvent.objects.get(method="POST"),
        "cut short": CallbackEvent.objects.create(
            call=call, outcome=EventOutcome.INVALID, raw="a" * services.MAX_RAW_LENGTH
        ),
        "no call": CallbackEvent.objects.create(call=None, outcome=EventOutcome.ERROR, raw="x=1"),
        "not a JSON answer": CallbackEvent.objects.create(
            call=call, source=EventSource.POLL, outcome=EventOutcome.ERROR, raw='{"SendSta'
        ),
    }
    for label, event in cases.items():
        before = row(event)
        with pytest.raises(services.NotReprocessable) as caught:
            services.reprocess_event(event)
        assert caught.value.label == label
        assert row(event) == before


def poll_with(monkeypatch: pytest.MonkeyPatch, call: VoiceCall, answer: dict[str, Any]) -> None:
    """Have the backend answer GetSendStatus with this JSON object."""

    class Answering:
        def get_send_status(self, smsid: str) -> Any:
            return parse_call_result(answer)

    monkeypatch.setattr(results, "get_backend", lambda: Answering())


@pytest.mark.django_db
def test_a_poll_is_read_again_from_its_stored_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    call = accepted_call()
    answer = {"CodeResponse": "100", "ReferenceId": SMSID.upper(), "SendStatus": 5,
              "CallStatus": "ANSWERED", "CallDuration": 13, "SentResult": 1}  # fmt: skip
    poll_with(monkeypatch, call, answer)
    with refusing_call_updates(), pytest.raises(DatabaseError, match="no space left"):
        services.refresh_status(call)
    event = CallbackEvent.objects.get(source=EventSource.POLL)
    assert json.loads(event.raw) == answer

    again = services.reprocess_event(event)

    assert again.outcome == EventOutcome.APPLIED
    call.refresh_from_db()
    assert (call.status, call.duration) == (CallStatus.ANSWERED, 13)


@pytest.mark.django_db
def test_a_stored_poll_answer_no_longer_corrects_a_final_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live, a poll is authoritative; stored, it is not the call's current state any more."""
    call = accepted_call()
    get(call, urlencode(callback_fields()))  # answered, 13 s
    answer = {"CodeResponse": "100", "ReferenceId": SMSID, "SendStatus": 5,
              "CallStatus": "ANSWERED", "CallDuration": 14, "SentResult": 1}  # fmt: skip
    poll_with(monkeypatch, call, answer)
    with refusing_call_updates(), pytest.raises(DatabaseError, match="no space left"):
        services.refresh_status(call)
    event = CallbackEvent.objects.get(source=EventSource.POLL)

    again = services.reprocess_event(event)

    assert again.outcome == EventOutcome.CONFLICT  # live, it would have been "corrected"
    assert again.error.startswith("Not applied, differs from the call:")
    call.refresh_from_db()
    assert (call.status, call.duration) == (CallStatus.ANSWERED, 13)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_judge_an_event_once(
    require_postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event's row lock: the second run waits, then finds the event already processed."""
    call = accepted_call()
    event = refused_delivery(call)
    real = reprocessing.reapply_result
    first = threading.Lock()

    def slow(*args: Any, **kwargs: Any) -> Any:
        if first.acquire(blocking=False):  # the first run waits until the other is blocked
            another_session_waits_for_a_lock()
        return real(*args, **kwargs)

    monkeypatch.setattr(reprocessing, "reapply_result", slow)
    outcomes: list[str] = []

    def run() -> None:
        try:
            outcomes.append(services.reprocess_event(event).outcome)
        except services.NotReprocessable as exc:
            outcomes.append(str(exc.label))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["already processed", EventOutcome.APPLIED]
    assert row(event)["outcome"] == EventOutcome.APPLIED
    assert row(event)["reprocess_count"] == 1
