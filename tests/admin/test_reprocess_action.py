"""The event list's "Reprocess selected events": who may run it, what it says, what it logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice.models import CallbackEvent, EventOutcome, VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import action_names, login, make_call, messages_of, staff

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

EVENTS = "admin:esms_voice_callbackevent_changelist"
ACTION = "reprocess_selected"
SMSID = "066107ee-6ec4-4283-b595-aa74977c65c5"
ANSWERED = urlencode(
    {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
)


def accepted() -> VoiceCall:
    return make_call(status=CallStatus.ACCEPTED, smsid=SMSID)


def failed(call: VoiceCall | None, raw: str, outcome: str = EventOutcome.ERROR) -> CallbackEvent:
    """An event as record_result leaves one it could not apply (or could not read)."""
    return CallbackEvent.objects.create(
        call=call, raw=raw, method="GET", outcome=outcome, error="InternalError: disk full"
    )


def run(client: Client, events: list[CallbackEvent]) -> Any:
    data = {"action": ACTION, "_selected_action": [str(e.pk) for e in events], "index": "0"}
    return client.post(reverse(EVENTS), data, follow=True)


def test_only_staff_who_may_change_events_see_the_action() -> None:
    viewer = login(staff("viewer", "esms_voice.view_callbackevent"))
    changer = login(staff("changer", "esms_voice.change_callbackevent"))
    root = login(User.objects.create_superuser("root", password="pw"))
    assert ACTION not in action_names(viewer.get(reverse(EVENTS)))
    assert ACTION in action_names(changer.get(reverse(EVENTS)))
    assert ACTION in action_names(root.get(reverse(EVENTS)))


def test_a_forged_post_without_the_permission_changes_nothing() -> None:
    call = accepted()
    event = failed(call, ANSWERED)
    run(login(staff("viewer", "esms_voice.view_callbackevent")), [event])
    event.refresh_from_db()
    assert (event.outcome, event.reprocess_count) == (EventOutcome.ERROR, 0)
    assert not LogEntry.objects.exists()


def test_the_action_reprocesses_says_what_happened_and_logs_each_event() -> None:
    user = staff("changer", "esms_voice.change_callbackevent")
    call = accepted()
    error = failed(call, ANSWERED)
    garbage = failed(call, "SendStatus=9", EventOutcome.INVALID)
    done = failed(call, ANSWERED, EventOutcome.APPLIED)

    response = run(login(user), [error, garbage, done])

    assert messages_of(response) == [
        "2 events reprocessed (Applied: 1, Invalid: 1); 1 skipped: already processed (1)."
    ]
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    entries = {e.object_id: e for e in LogEntry.objects.all()}
    assert set(entries) == {str(error.pk), str(garbage.pk)}  # not the one left alone
    logged = entries[str(error.pk)]
    assert (logged.user, logged.action_flag) == (user, CHANGE)
    assert logged.get_change_message() == (
        "Changed parsed fields, fingerprint, outcome, status before, status after, processing "
        "error, last reprocessed and times reprocessed."
    )
    with translation.override("vi"):
        assert "kết quả xử lý" in logged.get_change_message()


def test_an_event_without_a_call_is_reported_as_skipped() -> None:
    root = login(User.objects.create_superuser("root", password="pw"))
    event = failed(None, ANSWERED)
    response = run(root, [event])
    assert messages_of(response) == ["0 events reprocessed; 1 skipped: no call (1)."]
    event.refresh_from_db()
    assert event.reprocess_count == 0
