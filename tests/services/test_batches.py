"""A large batch's calls are placed a few per task: each exactly once, none stranded by another."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import kombu.exceptions
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from django_esms_voice import services
from django_esms_voice.models import AccountPause, VoiceCall
from django_esms_voice.services import claiming, placing
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import enqueue_calls_task, place_calls_task
from django_esms_voice.testing.simulator import EsmsSimulator, Script

from .helpers import enqueued_ids, make_call_requests, new_call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_async")]

PHONES = ["0901888481", "0901888482", "0901888483"]


def fail_for(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, call_id: int, error: BaseException
) -> None:
    """Make module.name(call_id) raise `error` for one call; the others run as they do."""
    real = getattr(module, name)

    def failing(given: int) -> Any:
        if given == call_id:
            raise error
        return real(given)

    monkeypatch.setattr(module, name, failing)


def test_the_fan_out_of_a_large_batch_publishes_its_calls_a_batch_to_a_message(
    apply_async: mock.Mock,
) -> None:
    ids = list(range(1, 2_601))  # no query: the ids only go into messages

    assert services.enqueue_calls(ids) == 2_600

    # The creating request cuts the batch into chunks for the workers to publish.
    chunks = [c.args[0][0] for c in apply_async.fan_out.call_args_list]
    assert [len(chunk) for chunk in chunks] == [services.FAN_OUT_CHUNK, 40]
    # The message of earlier releases: a worker not upgraded yet takes it as it is.
    assert [c.kwargs["kwargs"] for c in apply_async.fan_out.call_args_list] == [
        {"urgent": False}
    ] * 2
    assert enqueue_calls_task.run(chunks[0]) == services.FAN_OUT_CHUNK
    batches = [c.args[0][0] for c in apply_async.batch.call_args_list]
    assert [len(b) for b in batches] == [services.PLACE_BATCH] * services.PLACE_BATCH_SPREAD
    assert [pk for b in batches for pk in b] == chunks[0]
    assert not apply_async.called  # no call has a place task of its own
    # The rest is too few to batch: a task each, each starting at once on its own thread.
    assert enqueue_calls_task.run(chunks[1]) == 40
    assert [c.args[0][0] for c in apply_async.call_args_list] == chunks[1]


@pytest.mark.parametrize(
    ("calls", "per_message"),
    [(101, 1), (255, 1), (256, 2), (500, 3), (2_000, 15), (2_560, 20), (10_000, 20)],
)
def test_a_batch_goes_in_enough_messages_to_keep_the_threads_busy(
    calls: int, per_message: int
) -> None:
    # A thread places a message's calls one after another: 500 calls 20 to a message would
    # keep 25 threads busy and leave a gevent worker's 200 idle.
    assert services.PLACE_BATCH_SPREAD == 128
    assert services.calls_per_message(calls) == per_message


def test_a_mid_size_batch_goes_in_chunks_its_workers_batch_as_the_whole_allows(
    apply_async: mock.Mock,
) -> None:
    ids = list(range(1, 301))

    assert services.enqueue_calls(ids) == 300

    chunks = [c.args[0][0] for c in apply_async.fan_out.call_args_list]
    assert [len(chunk) for chunk in chunks] == [256, 44]  # 2 calls x 128 messages, the rest
    for chunk in chunks:
        enqueue_calls_task.run(chunk)
    batches = [c.args[0][0] for c in apply_async.batch.call_args_list]
    assert [len(b) for b in batches] == [2] * 128
    singles = [c.args[0][0] for c in apply_async.call_args_list]
    assert [pk for b in batches for pk in b] + singles == ids


def test_a_batch_places_each_of_its_calls_once(sim: EsmsSimulator) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]

    assert place_calls_task.run([c.pk for c in calls]) == "3 of 3 calls accepted"
    assert place_calls_task.run([c.pk for c in calls]) == "0 of 3 calls accepted"  # none resent

    assert len(make_call_requests(sim)) == 3
    assert set(VoiceCall.objects.values_list("status", flat=True)) == {CallStatus.ACCEPTED}


def test_a_call_to_retry_gets_a_place_task_of_its_own(
    sim: EsmsSimulator, apply_async: mock.Mock
) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]
    sim.script(PHONES[1], Script(failures=["http_500"]))

    assert services.place_calls([c.pk for c in calls]) == 2

    assert enqueued_ids(apply_async) == [calls[1].pk]
    assert apply_async.call_args.kwargs["countdown"] >= 1
    assert VoiceCall.objects.get(pk=calls[1].pk).status == CallStatus.PENDING


def test_a_call_that_fails_unexpectedly_does_not_strand_the_rest(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]
    lost = OperationalError("server closed the connection unexpectedly")
    fail_for(monkeypatch, claiming, "claim", calls[1].pk, lost)
    with caplog.at_level(logging.ERROR, logger="django_esms_voice"):
        assert services.place_calls([c.pk for c in calls]) == 2

    statuses = [VoiceCall.objects.get(pk=c.pk).status for c in calls]
    assert statuses == [CallStatus.ACCEPTED, CallStatus.PENDING, CallStatus.ACCEPTED]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert f"Voice call {calls[1].pk} of a batch" in message
    assert "OperationalError" in message
    assert PHONES[1] not in message


def test_a_broker_down_for_a_retry_does_not_strand_the_rest_of_the_batch(
    sim: EsmsSimulator, apply_async: mock.Mock, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]
    sim.script(PHONES[1], Script(failures=["http_500"]))
    apply_async.side_effect = kombu.exceptions.OperationalError("Connection refused")

    with caplog.at_level(logging.WARNING, logger="django_esms_voice"):
        assert services.place_calls([c.pk for c in calls]) == 2

    statuses = [VoiceCall.objects.get(pk=c.pk).status for c in calls]
    assert statuses == [CallStatus.ACCEPTED, CallStatus.PENDING, CallStatus.ACCEPTED]
    assert apply_async.call_args.kwargs["retry_policy"]["max_retries"] == 1  # fails fast
    assert any(
        "Could not enqueue 1 voice call(s) (OperationalError)" in r.getMessage()
        for r in caplog.records
    )


def test_at_the_soft_time_limit_the_calls_not_placed_go_to_a_new_batch(
    sim: EsmsSimulator, apply_async: mock.Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]
    fail_for(monkeypatch, placing, "place_call", calls[1].pk, SoftTimeLimitExceeded())
    with pytest.raises(SoftTimeLimitExceeded):
        services.place_calls([c.pk for c in calls])

    (batch,) = apply_async.batch.call_args_list
    assert batch.args[0] == ([calls[1].pk, calls[2].pk],)
    assert VoiceCall.objects.get(pk=calls[0].pk).status == CallStatus.ACCEPTED
    assert VoiceCall.objects.get(pk=calls[2].pk).status == CallStatus.PENDING  # not sent here


def test_an_account_refusal_mid_batch_sends_no_more_of_it(sim: EsmsSimulator) -> None:
    calls = [new_call(phone=phone) for phone in PHONES]
    sim.script(PHONES[1], Script(reject_code="103"))  # the balance ran out

    assert services.place_calls([c.pk for c in calls]) == 1

    # The call refused for the account waits, pending; the next one is not sent at all.
    statuses = [VoiceCall.objects.get(pk=c.pk).status for c in calls]
    assert statuses == [CallStatus.ACCEPTED, CallStatus.PENDING, CallStatus.PENDING]
    assert len(make_call_requests(sim)) == 2
    assert AccountPause.objects.filter(active=True).count() == 1
