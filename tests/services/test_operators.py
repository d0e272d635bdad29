"""What an operator does: cancel a call never sent, retry a refused or failed one (once)."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_esms_voice import services
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import (
    CallKind,
    VoiceCall,
)
from django_esms_voice.states import CallStatus
from tests.concurrency import another_session_waits_for_a_lock

from .helpers import age, enqueued_ids, new_call

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


@pytest.mark.django_db
def test_cancel_a_pending_call(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = new_call()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cancel_call(call) is True
    call.refresh_from_db()
    assert call.status == CallStatus.CANCELED
    assert call.completed_at is not None
    assert [c[:3] for c in signals["changed"]] == [
        (call.pk, CallStatus.PENDING, CallStatus.CANCELED)
    ]
    assert services.cancel_call(call) is False
    assert services.place_call(call.pk).skipped


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(set(CallStatus.values) - {CallStatus.PENDING}))
def test_only_pending_calls_can_be_canceled(status: str) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(status=status)
    assert services.cancel_call(call) is False
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [CallStatus.REJECTED, CallStatus.ERROR])
def test_retry_a_refused_or_failed_call(
    status: str, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    customer = Group.objects.create(name="customer 7")
    old = new_call(
        kind=CallKind.TEMPLATE,
        template_id="script-7",
        variables=["Trung", "20000"],
        voice="female",
        batch="june",
        content_object=customer,
        metadata={"order": 42},
    )
    VoiceCall.objects.filter(pk=old.pk).update(
        status=status, attempts=3, last_error_code="103", smsid=""
    )
    old.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        new = services.retry_call(old)

    new.refresh_from_db()
    assert new.pk != old.pk
    assert new.uuid != old.uuid
    assert new.retry_of == old
    assert list(old.retries.all()) == [new]
    assert (new.status, new.attempts, new.last_error_code) == (CallStatus.PENDING, 0, "")
    copied = ("kind", "template_id", "variables", "voice", "phone", "batch", "metadata")
    assert {f: getattr(new, f) for f in copied} == {f: getattr(old, f) for f in copied}
    assert new.content_object == customer
    assert enqueued_ids(apply_async) == [new.pk]
    old.refresh_from_db()
    assert old.status == status  # the old call keeps its history


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", sorted(set(CallStatus.values) - {CallStatus.REJECTED, CallStatus.ERROR})
)
def test_other_statuses_cannot_be_retried(status: str, apply_async: mock.Mock) -> None:
    old = new_call()
    VoiceCall.objects.filter(pk=old.pk).update(status=status)
    old.refresh_from_db()
    with pytest.raises(EsmsInputError):
        services.retry_call(old)
    assert VoiceCall.objects.count() == 1
    assert not apply_async.called


@pytest.mark.django_db
def test_a_call_is_retried_once_whoever_asks(apply_async: mock.Mock) -> None:
    old = new_call()
    VoiceCall.objects.filter(pk=old.pk).update(status=CallStatus.REJECTED)
    old.refresh_from_db()
    services.retry_call(old)

    # The API, a command or code: the same rule as the admin's action.
    with pytest.raises(services.AlreadyRetried) as refused:
        services.retry_call(old)

    assert refused.value.field == "status"
    assert VoiceCall.objects.filter(retry_of=old).count() == 1


@pytest.mark.django_db
def test_a_call_that_went_out_once_cannot_be_canceled() -> None:
    never_sent = new_call()
    timed_out = new_call()  # back to pending after a timeout: eSMS may have it
    age(timed_out, attempts=1)

    assert services.cancel_call(never_sent) is True
    assert services.cancel_call(timed_out) is False
    timed_out.refresh_from_db()
    assert timed_out.status == CallStatus.PENDING


@pytest.mark.django_db
def test_retry_calls_retries_each_call_once_and_says_why_not_the_others(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    rejected, failed, answered, done_before = (new_call(phone=f"090100000{i}") for i in range(4))
    for call, status in [
        (rejected, CallStatus.REJECTED),
        (failed, CallStatus.ERROR),
        (answered, CallStatus.ANSWERED),
        (done_before, CallStatus.REJECTED),
    ]:
        age(call, status=status)
    services.retry_call(VoiceCall.objects.get(pk=done_before.pk), enqueue=False)
    picked = VoiceCall.objects.filter(pk__in=[rejected.pk, failed.pk, answered.pk, done_before.pk])

    with django_capture_on_commit_callbacks(execute=True):
        report = services.retry_calls(picked)

    assert sorted(r.retry_of_id for r in report.created) == sorted([rejected.pk, failed.pk])
    assert {r.status for r in report.created} == {CallStatus.PENDING}
    refused = {call.pk: type(error) for call, error in report.refused}
    assert refused == {answered.pk: EsmsInputError, done_before.pk: services.AlreadyRetried}
    assert sorted(enqueued_ids(apply_async)) == sorted(r.pk for r in report.created)
    assert services.retry_calls(picked).created == []  # once


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")  # waits on pg_locks
def test_retry_calls_sees_a_retry_made_while_it_waited_for_the_lock() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks and pg_locks are PostgreSQL's")
    old = new_call()
    age(old, status=CallStatus.REJECTED)
    reports: list[services.Retries] = []

    def other_operator() -> None:
        try:
            reports.append(services.retry_calls(VoiceCall.objects.filter(pk=old.pk)))
        finally:
            connection.close()

    with transaction.atomic():
        VoiceCall.objects.select_for_update().get(pk=old.pk)  # the first operator has it
        thread = threading.Thread(target=other_operator)
        thread.start()
        assert another_session_waits_for_a_lock()
        services.retry_call(old, enqueue=False)
    thread.join(timeout=10)

    [report] = reports
    assert report.created == []
    assert [type(error) for _, error in report.refused] == [services.AlreadyRetried]
    assert VoiceCall.objects.filter(retry_of=old).count() == 1


@pytest.mark.django_db
def test_cancel_calls_cancels_what_cancel_call_may_in_one_update(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    never_sent, also, timed_out, accepted = (new_call(phone=f"090100000{i}") for i in range(4))
    age(timed_out, attempts=1)
    age(accepted, status=CallStatus.ACCEPTED)
    picked = VoiceCall.objects.filter(pk__in=[never_sent.pk, also.pk, timed_out.pk, accepted.pk])

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        canceled = services.cancel_calls(picked)

    assert [call.pk for call in canceled] == [never_sent.pk, also.pk]
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    statuses = dict(VoiceCall.objects.values_list("pk", "status"))
    assert statuses == {
        never_sent.pk: CallStatus.CANCELED,
        also.pk: CallStatus.CANCELED,
        timed_out.pk: CallStatus.PENDING,
        accepted.pk: CallStatus.ACCEPTED,
    }
    assert [c[:3] for c in signals["changed"]] == [
        (never_sent.pk, CallStatus.PENDING, CallStatus.CANCELED),
        (also.pk, CallStatus.PENDING, CallStatus.CANCELED),
    ]
