"""URGENT_QUEUE: calls of the urgent purposes (OTP) are published to a queue of their own."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from kombu.exceptions import OperationalError as BrokerError

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import enqueue_calls_task

from .helpers import PHONE, new_call

pytestmark = pytest.mark.django_db

URGENT = "esms_voice.urgent"


@pytest.fixture
def urgent_queue(settings: Any) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "URGENT_QUEUE": URGENT}


def queues(fake: mock.Mock) -> list[tuple[int, str | None]]:
    """Return (call id, queue) of each place task published, in order; None: the default."""
    return [(c.args[0][0], c.kwargs.get("queue")) for c in fake.call_args_list]


def otp(phone: str = PHONE) -> dict[str, Any]:
    return {"phone": phone, "template_id": "rec-1", "purpose": "transactional"}


def test_without_an_urgent_queue_every_call_keeps_the_default_routing(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call = services.create_call(**otp())
    # No queue option at all: the host's task_routes and default queue stay in charge.
    assert queues(apply_async) == [(call.pk, None)]
    assert "queue" not in apply_async.call_args.kwargs


@pytest.mark.usefixtures("urgent_queue")
def test_an_otp_goes_to_the_urgent_queue_and_a_reminder_does_not(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        code = services.create_call(**otp())
        reminder = services.create_call(
            phone="0901000002", template_id="rec-1", purpose="customer_care"
        )
    assert queues(apply_async) == [(code.pk, URGENT), (reminder.pk, None)]


@pytest.mark.usefixtures("urgent_queue")
def test_urgent_purposes_is_a_setting(
    settings: Any, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "URGENT_PURPOSES": ["customer_care"]}
    with django_capture_on_commit_callbacks(execute=True):
        code = services.create_call(**otp())
        reminder = services.create_call(
            phone="0901000002", template_id="rec-1", purpose="customer_care"
        )
    assert queues(apply_async) == [(code.pk, None), (reminder.pk, URGENT)]


@pytest.mark.usefixtures("urgent_queue")
def test_a_large_urgent_batch_fans_out_on_the_urgent_queue_and_stays_there(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    # A batch's calls have its campaign's purpose.
    rows = [{"phone": f"09{n:08d}", "template_id": "rec-1"} for n in range(101)]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows, purpose="transactional")
    (fan_out,) = apply_async.fan_out.call_args_list
    assert fan_out.kwargs["queue"] == URGENT
    assert fan_out.kwargs["kwargs"] == {"urgent": True}  # the worker that fans out keeps it
    assert not apply_async.called

    enqueue_calls_task.run(*fan_out.args[0], **fan_out.kwargs["kwargs"])
    assert queues(apply_async) == [(call.pk, URGENT) for call in created]


@pytest.mark.usefixtures("urgent_queue")
def test_calls_of_unknown_purpose_are_looked_up_in_one_query_and_the_urgent_go_first(
    apply_async: mock.Mock, django_assert_num_queries: Any
) -> None:
    # The sweep, a retry and a resume enqueue ids without their purpose.
    first = new_call(phone="0901000001", purpose="advertising")
    code = new_call(**otp("0901000002"))
    last = new_call(phone="0901000003", purpose="customer_care")
    with django_assert_num_queries(1):
        assert services.enqueue_calls([first.pk, code.pk, last.pk]) == 3
    assert queues(apply_async) == [(code.pk, URGENT), (first.pk, None), (last.pk, None)]


@pytest.mark.usefixtures("urgent_queue")
def test_a_broker_outage_on_the_urgent_queue_stops_there_and_leaves_the_rows_pending(
    apply_async: mock.Mock,
) -> None:
    apply_async.side_effect = BrokerError("Error 111 connecting to 127.0.0.1:6379")
    calls = [new_call(**otp()), new_call(phone="0901000002", purpose="advertising")]
    assert services.enqueue_calls([call.pk for call in calls]) == 0
    assert apply_async.call_count == 1  # the sweep enqueues both once the broker is back


@pytest.mark.usefixtures("urgent_queue")
def test_a_retried_otp_goes_back_to_the_urgent_queue(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    call, other = new_call(**otp()), new_call(**otp("0901000002"))
    VoiceCall.objects.update(status=CallStatus.ERROR)
    with django_capture_on_commit_callbacks(execute=True):
        retry = services.retry_call(call)  # the call page's button
        report = services.retry_calls(VoiceCall.objects.filter(pk=other.pk))  # the list action
    (again,) = report.created
    assert queues(apply_async) == [(retry.pk, URGENT), (again.pk, URGENT)]
