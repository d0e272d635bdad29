"""check_calls, the one check of what a person gave, and create_call's typed keywords."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from celery import current_app

from django_esms_voice import options, services, testing
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.exceptions import EsmsInputError, InvalidPhoneNumber
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus

PHONE = "0901888484"


def test_create_call_takes_every_option_as_a_keyword() -> None:
    """A new option in options.OPTIONS without its create_call() keyword fails here."""
    parameters = inspect.signature(services.create_call).parameters
    assert set(options.NAMES) <= set(parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


@pytest.mark.django_db
def test_create_call_refuses_an_unknown_keyword() -> None:
    with pytest.raises(TypeError):
        services.create_call(phone=PHONE, template_id="r", colour="red")  # type: ignore[call-arg]
    assert not VoiceCall.objects.exists()


def test_check_calls_normalises_valid_rows_and_explains_the_others() -> None:
    first, second, third = services.check_calls(
        [
            {"phone": "+84 90 188 8484", "template_id": "r-1"},
            {"phone": "12345", "template_id": "r-1"},
            {"phone": "0912345678", "template_id": "t-1", "kind": "template", "ivr_key": 1},
        ]
    )
    assert first.valid
    assert (first.values["phone"], first.values["kind"], first.values["voice"]) == (
        PHONE,
        "record",
        "",
    )
    assert isinstance(second.error, InvalidPhoneNumber)
    assert third.error is not None
    assert third.error.field == "ivr"
    assert "recording calls only" in str(third.error.message)


def test_check_calls_refuses_a_repeated_number_naming_the_earlier_row() -> None:
    rows = [
        {"phone": PHONE, "template_id": "r-1"},
        {"phone": "0912345678", "template_id": "r-1"},
        {"phone": "+84901888484", "template_id": "r-1"},  # the first number, spelt otherwise
    ]
    checked = services.check_calls(rows)
    assert [row.valid for row in checked] == [True, True, False]
    repeated = checked[2].error
    assert isinstance(repeated, services.RepeatedPhone)
    assert (repeated.field, repeated.earlier) == ("phone", 0)
    assert all(row.valid for row in services.check_calls(rows, allow_repeats=True))


@pytest.mark.django_db
def test_create_calls_refuses_repeats_only_when_asked() -> None:
    rows = [{"phone": PHONE, "template_id": "r-1"}, {"phone": PHONE, "template_id": "r-1"}]
    with pytest.raises(services.BulkCallError) as refused:
        services.create_calls(rows, enqueue=False, allow_repeats=False)
    assert list(refused.value.errors) == [2]
    assert not VoiceCall.objects.exists()
    assert len(services.create_calls(rows, enqueue=False)) == 2


def test_a_row_without_a_phone_is_an_input_error_not_a_crash() -> None:
    (row,) = services.check_calls([{"template_id": "r-1"}])
    assert isinstance(row.error, EsmsInputError)
    assert row.error.field == "phone"


@pytest.mark.django_db(transaction=True)
def test_an_eager_celery_places_the_call_through_the_registered_task(settings: Any) -> None:
    """services find the task by its registered name: no import of tasks, eager mode works."""
    settings.ESMS_VOICE = {"BACKEND": LOCMEM_BACKEND}
    testing.reset_outbox()
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        call = services.create_call(phone=PHONE, template_id="r-1")
    finally:
        current_app.conf.task_always_eager = eager
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    assert [request.phone for request in testing.outbox] == [PHONE]
