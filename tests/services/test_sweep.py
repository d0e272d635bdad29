"""The sweep: forgotten calls re-enqueued, stuck ones recovered, silent ones polled and ended."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import types
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import (
    CallbackEvent,
    EventOutcome,
    EventSource,
    VoiceCall,
)
from django_esms_voice.services import sweeping
from django_esms_voice.states import FINAL, CallStatus
from django_esms_voice.testing.simulator import (
    EsmsSimulator,
    Outcome,
    Script,
)

from .helpers import (
    IN_PROGRESS,
    OTHER_PHONE,
    PHONE,
    SMSID,
    accepted_call,
    age,
    batch_rows,
    callback_fields,
    deliver,
    enqueued_ids,
    esms_settings,
    make_call_requests,
    new_call,
    status_requests,
)

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db
def test_sweep_re_enqueues_forgotten_pending_calls_once(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, PENDING_GRACE=120)
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=121)
    forgotten = new_call()  # the broker was down when it was created
    age(forgotten, created_at=long_ago)
    retry_overdue = new_call()  # its Celery retry never came
    age(retry_overdue, created_at=long_ago, next_attempt_at=long_ago)
    fresh = new_call()  # within the grace period: its task is on its way
    retry_later = new_call()  # a retry is scheduled
    age(retry_later, created_at=long_ago, next_attempt_at=now + dt.timedelta(seconds=30))
    retry_recent = new_call()  # a retry was due a moment ago: within the grace period
    age(retry_recent, created_at=long_ago, next_attempt_at=now - dt.timedelta(seconds=60))
    done = new_call()
    age(done, created_at=long_ago, status=CallStatus.ACCEPTED)

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)
        assert not apply_async.called  # after commit only

    assert sorted(report.requeued) == sorted([forgotten.pk, retry_overdue.pk])
    assert report.recovered == []
    assert sorted(enqueued_ids(apply_async)) == sorted([forgotten.pk, retry_overdue.pk])
    for call in (forgotten, retry_overdue):
        call.refresh_from_db()
        assert (call.status, call.next_attempt_at) == (CallStatus.PENDING, now)
    untouched = {
        fresh.pk: None,
        retry_later.pk: now + dt.timedelta(seconds=30),
        retry_recent.pk: now - dt.timedelta(seconds=60),
    }
    assert (
        dict(VoiceCall.objects.filter(pk__in=untouched).values_list("pk", "next_attempt_at"))
        == untouched
    )

    # A second sweep right after finds nothing to enqueue.
    apply_async.reset_mock()
    for later in (now, now + dt.timedelta(seconds=1)):
        with django_capture_on_commit_callbacks(execute=True):
            again = services.sweep(now=later)
        assert again.requeued == []
        assert again.recovered == []
    assert not apply_async.called


@pytest.mark.django_db
def test_sweep_recovers_calls_stuck_in_submitting(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, SUBMIT_LEASE=300)
    now = timezone.now()
    stuck = new_call()  # the worker died mid-request
    age(stuck, status=CallStatus.SUBMITTING, attempts=1, claimed_at=now - dt.timedelta(seconds=301))
    busy = new_call()  # a worker is still waiting on eSMS
    age(busy, status=CallStatus.SUBMITTING, attempts=1, claimed_at=now - dt.timedelta(seconds=10))

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)

    assert report.recovered == [stuck.pk]
    assert report.requeued == []
    assert enqueued_ids(apply_async) == [stuck.pk]
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, stuck.attempts, stuck.next_attempt_at) == (CallStatus.PENDING, 1, now)
    assert busy.status == CallStatus.SUBMITTING

    apply_async.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.sweep(now=now + dt.timedelta(seconds=1))
    assert (again.requeued, again.recovered) == ([], [])
    assert not apply_async.called

    # The recovered call is placed again with its RequestId.
    assert services.place_call(stuck.pk).status == CallStatus.ACCEPTED
    (request,) = make_call_requests(sim)
    assert request.request_id == str(stuck.uuid)


@pytest.mark.django_db
def test_sweep_polls_silent_accepted_calls(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900)
    sim.callback_delay = 0.0  # the result is final as soon as the call is made
    sim.script(PHONE, Script(outcome=Outcome.answered(ivr="1", duration=21)))
    silent = new_call()
    assert services.place_call(silent.pk).status == CallStatus.ACCEPTED
    recent = new_call(phone=OTHER_PHONE)
    assert services.place_call(recent.pk).status == CallStatus.ACCEPTED
    no_smsid = accepted_call(smsid="")  # accepted through 124: nothing to poll with
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=901)
    age(silent, submitted_at=long_ago)
    age(no_smsid, submitted_at=long_ago)

    report = services.sweep(now=now)

    assert (report.polled, report.poll_errors) == (1, 0)
    silent.refresh_from_db()
    (poll,) = status_requests(sim)
    assert poll.params["ReferenceId"] == silent.smsid
    assert silent.status == CallStatus.ANSWERED
    assert (silent.duration, silent.ivr_pressed, silent.call_status) == (21, "1", "ANSWERED")
    assert silent.last_polled_at == now
    (event,) = silent.events.all()
    assert (event.source, event.outcome) == (EventSource.POLL, EventOutcome.APPLIED)
    assert (event.old_status, event.new_status) == (CallStatus.ACCEPTED, CallStatus.ANSWERED)
    assert '"CodeResponse": "100"' in event.raw
    for call in (recent, no_smsid):
        call.refresh_from_db()
        assert call.status == CallStatus.ACCEPTED
        assert call.last_polled_at is None
        assert not call.events.exists()


@pytest.mark.django_db
def test_sweep_leaves_a_call_esms_does_not_know_yet(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900)
    call = accepted_call(smsid="5e1ec7ed-0000-4000-8000-000000000105")  # unknown: 105
    now = timezone.now()
    age(call, submitted_at=now - dt.timedelta(seconds=901))

    report = services.sweep(now=now)

    assert (report.polled, report.poll_errors) == (1, 0)
    assert [r.code for r in status_requests(sim)] == ["105"]
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED  # not an error: ask again later
    assert (call.last_error_code, call.last_polled_at) == ("", now)
    # Staff see that eSMS was asked and did not know the call yet; nothing was applied.
    [event] = CallbackEvent.objects.all()
    assert (event.call_id, event.source) == (call.uuid, EventSource.POLL)
    assert (event.old_status, event.new_status) == (CallStatus.ACCEPTED, CallStatus.ACCEPTED)
    assert event.outcome == EventOutcome.NOT_KNOWN_YET  # nothing to reprocess, and said so
    assert '"CodeResponse": "105"' in event.raw
    assert event.error == "105: Call not known to eSMS yet; ask again later"
    # Not asked again before POLL_AFTER has passed once more.
    services.sweep(now=now + dt.timedelta(seconds=1))
    assert len(status_requests(sim)) == 1
    services.sweep(now=now + dt.timedelta(seconds=902))
    assert len(status_requests(sim)) == 2


@pytest.mark.django_db
def test_sweep_ends_accepted_calls_without_a_result_as_charged_result_unknown(
    sim: EsmsSimulator,
    settings: Any,
    signals: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    lost = accepted_call(smsid="")  # accepted through 124 and its callback was lost
    age(lost, submitted_at=now - dt.timedelta(seconds=3601))
    waiting = accepted_call(smsid="")
    age(waiting, submitted_at=now - dt.timedelta(seconds=3000))

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)

    assert report.expired == [lost.pk]
    lost.refresh_from_db()
    waiting.refresh_from_db()
    # eSMS placed and charged it: not "error", which says eSMS may not have the call.
    assert (lost.status, lost.last_error_code, lost.completed_at) == (
        CallStatus.UNKNOWN,
        "no_result",
        now,
    )
    assert lost.status in FINAL
    assert lost.get_status_display() == "Charged, result unknown"
    assert waiting.status == CallStatus.ACCEPTED
    assert [(pk, old, new) for pk, old, new, _ in signals["changed"]] == [
        (lost.pk, CallStatus.ACCEPTED, CallStatus.UNKNOWN)
    ]
    with pytest.raises(EsmsInputError):
        services.retry_call(lost)  # a retry would ring the number a second time

    # The truth may still come: a late callback completes the call and brings the SMSID.
    late = parse_call_result(
        {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
    )
    event = services.record_result(
        call_uuid=lost.uuid, source=EventSource.CALLBACK, raw="late", result=late
    )
    assert event is not None
    assert (event.outcome, event.old_status) == (EventOutcome.APPLIED, CallStatus.UNKNOWN)
    lost.refresh_from_db()
    assert (lost.status, lost.smsid, lost.last_error_code) == (CallStatus.ANSWERED, SMSID, "")


@pytest.mark.django_db
def test_the_migration_ends_calls_given_up_before_it_as_unknown() -> None:
    from django.apps import apps

    migration = importlib.import_module("django_esms_voice.migrations.0002_call_status_unknown")
    given_up = accepted_call(smsid="")
    age(given_up, status=CallStatus.ERROR, last_error_code="no_result")
    never_sent = new_call()
    age(never_sent, status=CallStatus.ERROR, last_error_code="EsmsTimeout")

    migration._unknown_for_given_up(apps, None)

    assert VoiceCall.objects.get(pk=given_up.pk).status == CallStatus.UNKNOWN
    assert VoiceCall.objects.get(pk=never_sent.pk).status == CallStatus.ERROR
    migration._error_for_unknown(apps, None)  # and back
    assert VoiceCall.objects.get(pk=given_up.pk).status == CallStatus.ERROR


@pytest.mark.django_db
def test_costs_count_calls_charged_with_their_result_unknown(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    now = timezone.now()
    answered = accepted_call()
    deliver(answered, callback_fields())  # Price=500
    lost = accepted_call(smsid="")
    age(lost, submitted_at=now - dt.timedelta(seconds=3601))
    accepted_call(smsid="")  # still waiting: not billed yet
    new_call()  # never sent

    services.sweep(now=now)

    assert VoiceCall.objects.costs() == {"billed": 2, "total": Decimal("500"), "unpriced": 1}
    assert VoiceCall.objects.filter(pk=lost.pk).costs()["billed"] == 1
    assert VoiceCall.objects.none().costs() == {"billed": 0, "total": 0, "unpriced": 0}


@pytest.mark.django_db
def test_sweep_ends_a_polled_call_that_never_got_a_result_as_unknown_too(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    # eSMS gave it an SMSID, so it has the call; its polls answer 105 (not known yet).
    call = accepted_call(smsid="5e1ec7ed-0000-4000-8000-000000000105")
    age(call, submitted_at=now - dt.timedelta(seconds=3601))

    first = services.sweep(now=now)  # the last poll is still asked for
    call.refresh_from_db()
    assert (first.expired, call.status, len(status_requests(sim))) == ([], CallStatus.ACCEPTED, 1)

    second = services.sweep(now=now + dt.timedelta(seconds=1))
    call.refresh_from_db()
    assert second.expired == [call.pk]
    assert call.status == CallStatus.UNKNOWN


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_concurrent_sweeps_never_enqueue_a_call_twice(
    require_postgres: Any, apply_async: mock.Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    created = services.create_calls(batch_rows(200), enqueue=False)
    VoiceCall.objects.update(created_at=now - dt.timedelta(hours=1))
    ids = sorted(c.pk for c in created)
    seen: list[int] = []
    apply_async.side_effect = lambda args, **kwargs: seen.append(args[0])
    # A sweep of more than FAN_OUT_ABOVE calls hands them to a worker in one message.
    apply_async.fan_out.side_effect = lambda args, **kwargs: seen.extend(args[0])

    # Hold the first sweep inside its transaction, rows locked, while the second one runs:
    # the second must skip the locked rows (not wait for them, not take them again).
    first_locked, second_done = threading.Event(), threading.Event()
    held: list[bool] = []
    real_on_commit = transaction.on_commit

    def on_commit(func: Callable[[], Any], *args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "sweep-1":
            first_locked.set()
            held.append(second_done.wait(10))
        real_on_commit(func, *args, **kwargs)

    monkeypatch.setattr(
        sweeping,
        "transaction",
        types.SimpleNamespace(atomic=transaction.atomic, on_commit=on_commit),
    )
    reports: dict[str, services.SweepReport] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            if name == "sweep-2":
                assert first_locked.wait(10)
            reports[name] = services.sweep(now=now, batch_size=120)
            if name == "sweep-2":
                second_done.set()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("sweep-1", "sweep-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    # The second sweep finished while the first still held its row locks: it did not wait.
    assert held == [True]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == ids
    assert len(reports["sweep-1"].requeued) == 120
    assert len(reports["sweep-2"].requeued) == 80
    assert not set(reports["sweep-1"].requeued) & set(reports["sweep-2"].requeued)


@pytest.mark.django_db
def test_a_callback_that_beats_the_accept_still_leaves_a_call_the_sweep_can_end(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    call = new_call()  # a resend answered 124: no SMSID, so it can never be polled
    age(call, status=CallStatus.SUBMITTING, attempts=2)
    progress = {k: v for k, v in IN_PROGRESS.items() if k != "ReferenceId"}
    deliver(call, progress)  # eSMS's first callback arrives before our _accept ran
    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS
    assert call.submitted_at is not None

    # Its final callback is lost: the sweep gives up on it once RESULT_TIMEOUT has passed.
    report = services.sweep(now=call.submitted_at + dt.timedelta(seconds=3601))
    assert report.expired == [call.pk]


@pytest.mark.django_db
def test_a_scheduled_call_is_not_given_up_before_its_time(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    call = accepted_call(smsid="", send_at=now + dt.timedelta(days=2))
    age(call, submitted_at=now - dt.timedelta(days=1))

    report = services.sweep(now=now)

    assert report.expired == []
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    # Once its time has come and gone by RESULT_TIMEOUT, it is.
    later = services.sweep(now=now + dt.timedelta(days=2, seconds=3601))
    assert later.expired == [call.pk]


@pytest.mark.django_db
def test_the_sweep_gives_up_on_at_most_a_batch_of_calls_per_pass(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    now = timezone.now()
    lost = [accepted_call(smsid="") for _ in range(3)]
    for call in lost:
        age(call, submitted_at=now - dt.timedelta(seconds=3601))

    first = services.sweep(now=now, batch_size=2)
    second = services.sweep(now=now, batch_size=2)

    assert (len(first.expired), len(second.expired)) == (2, 1)
    assert sorted(first.expired + second.expired) == sorted(c.pk for c in lost)
