"""The call list's actions: place now, retry, cancel, refresh; money spent only once confirmed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_esms_voice import services
from django_esms_voice.admin import actions
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import (
    CHANGELIST,
    OTHER,
    PHONE,
    THIRD,
    action_names,
    changelist_url,
    enqueued,
    make_call,
    messages_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def run_action(client: Client, action: str, calls: list[VoiceCall], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(c.pk) for c in calls], **extra}
    if "post" not in extra:
        data["index"] = "0"
    return client.post(reverse(CHANGELIST), data, follow="post" in extra)


def test_money_actions_are_hidden_without_the_place_permission(
    no_place: Client, apply_async: mock.Mock
) -> None:
    pending = make_call()
    response = no_place.get(reverse(CHANGELIST))
    assert action_names(response) == {"cancel_calls", "refresh_calls"}
    # A forged POST of a hidden action does nothing.
    response = no_place.post(
        reverse(CHANGELIST),
        {"action": "place_now", "_selected_action": [pending.pk], "index": "0", "post": "yes"},
        follow=True,
    )
    assert "No action selected." in messages_of(response)
    assert apply_async.call_args_list == []


def test_place_now_asks_first_then_queues_the_pending_calls(
    op: Client, apply_async: mock.Mock
) -> None:
    pending = [make_call(), make_call(phone=OTHER)]
    answered = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    response = run_action(op, "place_now", [*pending, answered])
    assert response.status_code == 200
    assert response.templates[0].name == "esms_voice/admin/confirm_action.html"
    html = response.content.decode()
    assert "2 calls will be placed now. eSMS charges for each of them." in html
    assert "Not pending" in html
    assert "Status “Answered”: only pending calls are placed." in html
    assert 'value="Yes, place 2 calls"' in html
    assert apply_async.call_args_list == []

    response = run_action(op, "place_now", [*pending, answered], post="yes")
    assert messages_of(response) == ["2 calls queued, 1 skipped: not pending."]
    assert sorted(enqueued(apply_async)) == sorted(c.pk for c in pending)


def test_place_now_across_a_filtered_list(op: Client, apply_async: mock.Mock) -> None:
    calls = [make_call(phone=f"0901{i:06d}", batch="b") for i in range(3)]
    make_call(phone=THIRD, batch="other")
    url = changelist_url(batch="b")
    data = {"action": "place_now", "_selected_action": [calls[0].pk], "select_across": "1"}
    response = op.post(url, {**data, "index": "0"})
    assert "3 calls will be placed now" in response.content.decode()
    assert 'name="select_across" value="1"' in response.content.decode()
    response = op.post(url, {**data, "index": "0", "post": "yes"}, follow=True)
    assert messages_of(response) == ["3 calls queued."]
    assert sorted(enqueued(apply_async)) == sorted(c.pk for c in calls)


def test_retry_makes_new_calls_linked_to_the_old_ones(
    op: Client,
    operator: User,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    rejected = make_call(status=CallStatus.REJECTED, batch="june")
    failed = make_call(phone=OTHER, status=CallStatus.ERROR)
    answered = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    done_before = make_call(phone="0987000111", status=CallStatus.REJECTED)
    make_call(phone="0987000111", retry_of=done_before)
    selected = [rejected, failed, answered, done_before]

    response = run_action(op, "retry_calls", selected)
    html = response.content.decode()
    assert "2 calls will be placed again, as new calls." in html
    assert "Already retried." in html
    assert "Not rejected or failed" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(op, "retry_calls", selected, post="yes")
    assert messages_of(response) == [
        "2 calls queued, 2 skipped: not rejected or failed (1), already retried (1)."
    ]
    retries = VoiceCall.objects.filter(retry_of__in=[rejected, failed])
    assert {(r.retry_of_id, r.phone, r.status) for r in retries} == {
        (rejected.pk, PHONE, CallStatus.PENDING),
        (failed.pk, OTHER, CallStatus.PENDING),
    }
    assert retries.get(retry_of=rejected).batch == "june"
    assert {r.created_by for r in retries} == {operator}
    assert sorted(enqueued(apply_async)) == sorted(r.pk for r in retries)


def test_retry_needs_the_place_permission(no_place: Client) -> None:
    rejected = make_call(status=CallStatus.REJECTED)
    run_action(no_place, "retry_calls", [rejected], post="yes")
    assert VoiceCall.objects.count() == 1


def test_cancel_cancels_pending_calls_only(no_place: Client) -> None:
    pending = make_call()
    accepted = make_call(phone=OTHER, status=CallStatus.ACCEPTED)
    response = run_action(no_place, "cancel_calls", [pending, accepted], post="yes")
    assert messages_of(response) == [
        "1 call canceled, 1 skipped: already sent to eSMS or finished."
    ]
    pending.refresh_from_db()
    accepted.refresh_from_db()
    assert (pending.status, accepted.status) == (CallStatus.CANCELED, CallStatus.ACCEPTED)


def test_refresh_hands_the_polls_to_a_worker_instead_of_asking_in_the_request(
    no_place: Client,
) -> None:
    known = make_call(status=CallStatus.ACCEPTED, smsid="SMS-1")
    unsent = make_call(phone=OTHER)
    with (
        mock.patch.object(services, "refresh_status") as asked_here,
        mock.patch.object(services, "enqueue_refresh", return_value=True) as enqueue,
    ):
        response = run_action(no_place, "refresh_calls", [known, unsent], post="yes")
    assert asked_here.call_args_list == []  # no GetSendStatus inside the admin's request
    assert enqueue.call_args_list == [mock.call([known.pk])]
    assert messages_of(response) == [
        "1 call will be asked of eSMS by a worker: its status changes here within a minute, "
        "1 skipped: not sent to eSMS yet."
    ]


def test_refresh_asks_only_about_calls_whose_status_a_poll_can_change(no_place: Client) -> None:
    accepted = make_call(status=CallStatus.ACCEPTED, smsid="SMS-1")
    unknown = make_call(status=CallStatus.UNKNOWN, smsid="SMS-2")  # charged, its result may come
    answered = make_call(status=CallStatus.ANSWERED, smsid="SMS-3")
    rejected = make_call(status=CallStatus.REJECTED, last_error_code="103")
    pending = make_call(phone=OTHER)
    no_smsid = make_call(status=CallStatus.ACCEPTED)  # accepted through 124: nothing to ask by
    selected = [accepted, unknown, answered, rejected, pending, no_smsid]
    with mock.patch.object(services, "enqueue_refresh", return_value=True) as enqueue:
        response = run_action(no_place, "refresh_calls", selected, post="yes")
    [(ids,)] = [c.args for c in enqueue.call_args_list]
    assert sorted(ids) == sorted([accepted.pk, unknown.pk])
    assert messages_of(response) == [
        "2 calls will be asked of eSMS by a worker: their statuses change here within a minute, "
        "4 skipped: not sent to eSMS yet (1), result already final (2), "
        "no SMSID from eSMS yet (1)."
    ]


def test_the_refresh_limit_counts_only_the_calls_a_worker_would_ask_about(
    no_place: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "REFRESH_LIMIT", 2)
    open_calls = [make_call(status=CallStatus.ACCEPTED, smsid=f"SMS-{i}") for i in (1, 2)]
    finished = make_call(status=CallStatus.ANSWERED, smsid="SMS-3")
    with mock.patch.object(services, "enqueue_refresh", return_value=True) as enqueue:
        run_action(no_place, "refresh_calls", [*open_calls, finished], post="yes")
        [(ids,)] = [c.args for c in enqueue.call_args_list]
        assert sorted(ids) == sorted(c.pk for c in open_calls)
        third = make_call(status=CallStatus.IN_PROGRESS, smsid="SMS-4")
        response = run_action(no_place, "refresh_calls", [*open_calls, third], post="yes")
    assert len(enqueue.call_args_list) == 1  # the second selection was refused
    assert messages_of(response) == [
        "Refresh at most 2 calls at a time: a worker asks eSMS about them one after another."
    ]


def test_refresh_says_so_when_the_queue_does_not_answer(no_place: Client) -> None:
    known = make_call(status=CallStatus.ACCEPTED, smsid="SMS-1")
    with mock.patch.object(services, "enqueue_refresh", return_value=False):
        response = run_action(no_place, "refresh_calls", [known], post="yes")
    assert messages_of(response) == [
        "The queue did not answer: nothing was asked of eSMS. Try again in a moment."
    ]


@pytest.mark.parametrize(
    ("action", "status", "done"),
    [
        ("place_now", CallStatus.PENDING, "calls queued"),
        ("retry_calls", CallStatus.REJECTED, "calls queued"),
        ("cancel_calls", CallStatus.PENDING, "calls canceled"),
    ],
)
def test_the_actions_make_as_many_queries_for_twenty_calls_as_for_two(
    op: Client,
    apply_async: mock.Mock,
    action: str,
    status: str,
    done: str,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    def queries_for(count: int, prefix: str) -> int:
        calls = [make_call(phone=f"{prefix}{i:06d}", status=status) for i in range(count)]
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = run_action(op, action, calls, post="yes")
        assert messages_of(response) == [f"{count} {done}."]
        return len(queries)

    assert queries_for(20, "0901") == queries_for(2, "0912")


def test_the_retry_confirmation_says_why_and_warns_before_a_refusal_it_would_repeat(
    op: Client, apply_async: mock.Mock
) -> None:
    no_recording = make_call(status=CallStatus.REJECTED, last_error_code="106")
    wrong_number = make_call(phone=OTHER, status=CallStatus.REJECTED, last_error_code="108")
    timed_out = make_call(phone=THIRD, status=CallStatus.ERROR, last_error_code="timeout")
    response = run_action(op, "retry_calls", [no_recording, wrong_number, timed_out])
    html = response.content.decode()
    assert "1 of these calls was refused for a reason a retry does not fix by itself" in html
    reasons = html.split('<ul class="esms-voice-reasons">')[1].split("</ul>")[0]
    assert reasons.index("106:") < reasons.index("108:")  # what a retry repeats comes first
    assert "Check the recording&#x27;s id" in reasons or "Check the recording's id" in reasons
    assert "eSMS did not answer in time" in reasons


def test_no_warning_when_every_refusal_can_succeed_on_a_retry(
    op: Client, apply_async: mock.Mock
) -> None:
    wrong_number = make_call(status=CallStatus.REJECTED, last_error_code="108")
    html = run_action(op, "retry_calls", [wrong_number]).content.decode()
    assert "esms-voice-reasons" in html
    assert "a retry does not fix by itself" not in html
