"""What an operator does: cancel a call never sent, retry a refused or failed one (once)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Group

from django_esms_voice import services
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import (
    CallKind,
    VoiceCall,
)
from django_esms_voice.states import CallStatus

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
