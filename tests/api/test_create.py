"""Creating calls through the API: one call, a script call's options, batches, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_esms_voice import options
from django_esms_voice.api.serializers import (
    MAX_BATCH_SIZE,
    VoiceCallCreateSerializer,
    VoiceCallSerializer,
)
from django_esms_voice.models import CallKind, VoiceCall
from django_esms_voice.states import CallStatus
from tests.api.helpers import (
    CALLS,
    HIDDEN,
    OTHER,
    PHONE,
    assert_public,
    client_for,
)

pytestmark = pytest.mark.urls("tests.api.urls")


@pytest.mark.django_db
def test_create_one_call(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(placer).post(
            CALLS,
            {"phone": "+84 90 188 84 84", "template_id": "rec-1", "metadata": {"order": 7}},
            format="json",
        )
    assert response.status_code == 201, response.data
    call = VoiceCall.objects.get()
    assert response.data["status"] == CallStatus.PENDING
    assert response.data["phone"] == PHONE
    assert response.data["kind"] == CallKind.RECORD
    assert_public(response.data, call)
    assert call.created_by == placer
    assert call.metadata == {"order": 7}
    assert [c.args[0] for c in apply_async.call_args_list] == [(call.pk,)]


@pytest.mark.django_db
def test_create_a_script_call_with_its_options(placer: User) -> None:
    send_at = timezone.now() + dt.timedelta(days=1)
    response = client_for(placer).post(
        CALLS,
        {
            "kind": "template",
            "template_id": "tpl-1",
            "phone": PHONE,
            "variables": ["Trung", "20000"],
            "voice": "ngoclam",
            "speed": 2,
            "send_at": send_at.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    call = VoiceCall.objects.get()
    assert (call.kind, call.variables, call.voice, call.speed) == (
        CallKind.TEMPLATE,
        ["Trung", "20000"],
        "ngoclam",
        2,
    )
    assert call.send_at == send_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"phone": "12345"}, "phone", ""),
        ({"phone": ""}, "phone", ""),
        ({"template_id": ""}, "template_id", ""),
        ({"kind": "template", "variables": ["a||b"]}, "variables", "||"),
        ({"variables": ["a"]}, "variables", "script"),
        ({"ivr_key": 1}, "ivr_key", "forward"),
        ({"ivr_key": 12, "number_forward": OTHER}, "ivr_key", ""),
        ({"ivr_key": 1, "number_forward": "not a phone"}, "number_forward", ""),
        ({"kind": "template", "ivr_key": 1, "number_forward": OTHER}, "ivr_key", "recording"),
        ({"kind": "template", "speed": 9}, "speed", ""),
        ({"kind": "template", "voice": "robot"}, "voice", ""),
        ({"send_at": "2030-01-01T09:00:00"}, None, ""),  # naive: read in TIME_ZONE, accepted
    ],
)
def test_create_refuses_bad_input_field_by_field(
    placer: User, body: dict[str, Any], field: str | None, words: str
) -> None:
    response = client_for(placer).post(
        CALLS, {"phone": PHONE, "template_id": "rec-1", **body}, format="json"
    )
    if field is None:
        assert response.status_code == 201, response.data
        return
    assert response.status_code == 400
    assert set(response.data) == {field}, response.data
    assert words in str(response.data[field][0])
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_create_a_batch_from_an_object(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    body = {
        "batch": "reminders",
        "calls": [
            {"phone": PHONE, "template_id": "rec-1"},
            {"phone": OTHER, "template_id": "tpl", "kind": "template", "variables": ["A"]},
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(placer).post(CALLS, body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["batch"] == "reminders"
    assert [c["phone"] for c in response.data["calls"]] == [PHONE, OTHER]
    calls = VoiceCall.objects.filter(batch="reminders")
    assert calls.count() == 2
    assert {c.created_by for c in calls} == {placer}
    assert sorted(c.args[0][0] for c in apply_async.call_args_list) == sorted(c.pk for c in calls)
    for data in response.data["calls"]:
        assert not HIDDEN & set(data)


@pytest.mark.django_db
def test_create_a_batch_from_a_bare_list_gets_a_batch_tag(placer: User) -> None:
    response = client_for(placer).post(
        CALLS, [{"phone": PHONE, "template_id": "1"}, {"phone": OTHER, "template_id": "1"}],
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    batch = response.data["batch"]
    assert batch.startswith("api-")
    assert VoiceCall.objects.filter(batch=batch).count() == 2


@pytest.mark.django_db
def test_a_batch_with_one_bad_row_creates_nothing_and_points_at_the_row(placer: User) -> None:
    response = client_for(placer).post(
        CALLS,
        {"calls": [{"phone": PHONE, "template_id": "1"}, {"phone": "999", "template_id": "1"}]},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["calls"]
    assert set(errors) == {"1"}  # the rows with errors, by index from 0
    assert set(errors["1"]) == {"phone"}
    assert "not a valid Vietnamese phone number" in errors["1"]["phone"][0]
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "calls", [[], [{"phone": PHONE, "template_id": "1"}] * (MAX_BATCH_SIZE + 1)]
)
def test_a_batch_must_hold_between_one_and_the_maximum_calls(
    placer: User, calls: list[Any]
) -> None:
    response = client_for(placer).post(CALLS, {"calls": calls}, format="json")
    assert response.status_code == 400
    assert "calls" in response.data
    assert not VoiceCall.objects.exists()


def test_creating_takes_every_call_option_and_nothing_else() -> None:
    """The API's fields come from options.py: a new option is in the API without a new list."""
    fields = VoiceCallCreateSerializer().fields
    assert list(fields) == [*options.NAMES, "purpose"]  # and what the call is for
    assert [name for name, field in fields.items() if field.required] == ["template_id", "phone"]
    shown = list(VoiceCallSerializer().fields)
    assert shown[1 : 1 + len(options.NAMES)] == list(options.NAMES)  # after the uuid
