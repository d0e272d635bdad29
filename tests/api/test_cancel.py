"""Canceling a call through the API; calls are records: no update, no delete."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.api.helpers import (
    CALLS,
    OTHER,
    PHONE,
    new_call,
)

pytestmark = pytest.mark.urls("tests.api.urls")


@pytest.mark.django_db
def test_cancel_a_pending_call(admin: APIClient) -> None:
    call = new_call()
    response = admin.post(f"{CALLS}{call.uuid}/cancel/")
    assert response.status_code == 200
    assert response.data["status"] == CallStatus.CANCELED
    call.refresh_from_db()
    assert call.status == CallStatus.CANCELED
    assert call.completed_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [CallStatus.ACCEPTED, CallStatus.SUBMITTING, CallStatus.CANCELED]
)
def test_cancel_a_call_that_is_not_pending_is_409(admin: APIClient, status: str) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(status=status)
    response = admin.post(f"{CALLS}{call.uuid}/cancel/")
    assert response.status_code == 409
    assert status in response.data["detail"]
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.django_db
def test_a_pending_call_sent_once_is_409_saying_it_may_still_ring(admin: APIClient) -> None:
    """Back to pending after a lost answer, eSMS may have it: 409, and not "it is pending"."""
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(attempts=1)
    response = admin.post(f"{CALLS}{call.uuid}/cancel/")
    assert response.status_code == 409
    assert "sent to eSMS" in response.data["detail"]
    assert "this one is pending" not in response.data["detail"]
    call.refresh_from_db()
    assert call.status == CallStatus.PENDING


@pytest.mark.django_db
def test_cancel_an_unknown_call_is_404(admin: APIClient) -> None:
    assert admin.post(f"{CALLS}{uuid.uuid4()}/cancel/").status_code == 404


@pytest.mark.django_db
def test_there_is_no_update_or_delete(admin: APIClient) -> None:
    call = new_call()
    assert admin.delete(f"{CALLS}{call.uuid}/").status_code == 405
    assert admin.patch(f"{CALLS}{call.uuid}/", {"phone": OTHER}, format="json").status_code == 405
    assert VoiceCall.objects.get().phone == PHONE
