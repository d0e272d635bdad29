"""Each action that places, retries, cancels or refreshes calls leaves a LogEntry per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import CHANGELIST, OTHER, THIRD, make_call

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def confirm(client: Client, action: str, calls: list[VoiceCall]) -> Any:
    data = {"action": action, "_selected_action": [str(c.pk) for c in calls], "post": "yes"}
    return client.post(reverse(CHANGELIST), data, follow=True)


def history() -> dict[str, tuple[int, int, str]]:
    """The log entries by call id: (user id, action flag, message)."""
    return {
        e.object_id: (e.user_id, e.action_flag, e.get_change_message())
        for e in LogEntry.objects.all()
    }


def test_placing_now_is_in_each_placed_calls_history_and_recent_actions(
    op: Client, operator: User, apply_async: mock.Mock
) -> None:
    pending = [make_call(), make_call(phone=OTHER)]
    answered = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    confirm(op, "place_now", [*pending, answered])
    message = "Placed now from the call list."
    assert history() == {str(c.pk): (operator.pk, CHANGE, message) for c in pending}
    index = op.get(reverse("admin:index")).content.decode()
    assert str(pending[0]) in index  # "Recent actions" is no longer empty


def test_nothing_is_logged_before_the_confirmation(op: Client, apply_async: mock.Mock) -> None:
    call = make_call()
    data = {"action": "place_now", "_selected_action": [str(call.pk)], "index": "0"}
    op.post(reverse(CHANGELIST), data)
    assert not LogEntry.objects.exists()


def test_a_retry_is_logged_as_an_addition_on_the_new_call(
    op: Client,
    operator: User,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    rejected = make_call(status=CallStatus.REJECTED)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(op, "retry_calls", [rejected])
    retry = VoiceCall.objects.get(retry_of=rejected)
    message = "Created from the call list as the retry of a rejected or failed call."
    assert history() == {str(retry.pk): (operator.pk, ADDITION, message)}


def test_cancel_logs_only_the_calls_it_canceled(no_place: Client, viewer: User) -> None:
    pending = make_call()
    accepted = make_call(phone=OTHER, status=CallStatus.ACCEPTED)
    confirm(no_place, "cancel_calls", [pending, accepted])
    assert history() == {str(pending.pk): (viewer.pk, CHANGE, "Canceled from the call list.")}


def test_refresh_logs_the_calls_esms_was_asked_about(no_place: Client, viewer: User) -> None:
    known = make_call(status=CallStatus.ACCEPTED, smsid="SMS-1")
    unsent = make_call(phone=OTHER)
    with mock.patch.object(services, "enqueue_refresh", return_value=True):
        confirm(no_place, "refresh_calls", [known, unsent])
    message = "Status asked of eSMS from the call list."
    assert history() == {str(known.pk): (viewer.pk, CHANGE, message)}


def test_the_entry_is_written_in_the_language_of_who_acted(
    op: Client, apply_async: mock.Mock
) -> None:
    call = make_call()
    with translation.override("vi"):
        op.cookies["django_language"] = "vi"
        confirm(op, "place_now", [call])
    (entry,) = LogEntry.objects.all()
    assert entry.get_change_message() != "Placed now from the call list."
    assert "gọi" in entry.get_change_message()
