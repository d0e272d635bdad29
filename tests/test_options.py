"""The call options declared once: the request, the kind rule and the fields derived from it."""

from __future__ import annotations

import argparse

import pytest
from django import forms
from rest_framework import serializers

from django_esms_voice import options
from django_esms_voice.esms.payloads import RecordCallRequest, TemplateCallRequest
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import VoiceCall

PHONE = "0901888484"


def test_every_option_is_a_voice_call_field() -> None:
    fields = {field.name for field in VoiceCall._meta.get_fields()}
    assert set(options.NAMES) <= fields


def test_every_request_field_exists_on_the_request_of_its_kinds() -> None:
    requests = {"record": RecordCallRequest, "template": TemplateCallRequest}
    for option in options.OPTIONS:
        if option.request_field is None:
            continue
        for kind in option.kinds:
            assert option.request_field in requests[kind].__dataclass_fields__, option.name


def test_a_record_option_on_a_script_call_is_refused_not_dropped() -> None:
    """eSMS documents MaxRepeat for recordings only: a script call must not lose it silently."""
    with pytest.raises(EsmsInputError) as caught:
        options.validate(
            {"kind": "template", "template_id": "tts-1", "phone": PHONE, "max_repeat": 2}
        )
    assert caught.value.field == "ivr"
    assert "recording calls only" in str(caught.value.message)
    assert "Repeats" in str(caught.value.message)


def test_a_script_option_on_a_recording_is_refused_with_its_label() -> None:
    with pytest.raises(EsmsInputError) as caught:
        options.validate({"kind": "record", "template_id": "r-1", "phone": PHONE, "speed": 0})
    assert caught.value.field == "variables"
    assert "belong to text-to-speech script calls: Speed" in str(caught.value.message)


def test_validate_normalises_the_numbers_and_fills_the_empties() -> None:
    values = options.validate(
        {
            "kind": "record",
            "template_id": "r-1",
            "phone": "+84 90 188 8484",
            "ivr_key": 1,
            "number_forward": "+84901888485",
            "voice": None,
            "batch": None,
        }
    )
    assert (values["phone"], values["number_forward"]) == (PHONE, "0901888485")
    assert (values["voice"], values["batch"]) == ("", "")


def test_build_request_sends_only_what_the_kind_takes() -> None:
    request = options.build_request(
        {"kind": "template", "template_id": "tts-1", "phone": PHONE, "variables": ["An"]},
        request_id="r",
    )
    assert isinstance(request, TemplateCallRequest)
    assert request.to_params()["VariableListStr"] == "An"


def test_the_derived_fields_keep_the_bounds() -> None:
    speed = options.BY_NAME["speed"]
    form_field = speed.form_field()
    assert isinstance(form_field, forms.TypedChoiceField)
    assert form_field.clean("3") == 3
    with pytest.raises(forms.ValidationError):
        form_field.clean("4")
    api_field = speed.serializer_field()
    assert isinstance(api_field, serializers.IntegerField)
    with pytest.raises(serializers.ValidationError):
        api_field.run_validation(4)
    parser = argparse.ArgumentParser()
    speed.add_argument(parser)
    assert parser.parse_args(["--speed", "-3"]).speed == -3
    with pytest.raises(SystemExit):
        parser.parse_args(["--speed", "fast"])


def test_retries_copy_every_option_shown_to_the_caller() -> None:
    assert {"template_id", "phone", "variables", "max_repeat", "send_at"} <= set(options.COPIED)


@pytest.mark.parametrize("kind", ["record", "template"])
def test_each_option_given_becomes_its_documented_parameter(kind: str) -> None:
    import datetime as dt

    given = {
        "template_id": "t-1",
        "phone": PHONE,
        "variables": ["An"],
        "voice": "female",
        "speed": 1,
        "ivr_key": 1,
        "number_forward": "0901888485",
        "max_repeat": 1,
        "max_retry": 1,
        "time_wait_to_ivr": 5,
        "wait_retry": 60,
        "send_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    }
    mine = {o.name: given[o.name] for o in options.OPTIONS if kind in o.kinds and o.name in given}
    params = options.build_request({"kind": kind, **mine}).to_params()
    expected = {o.param for o in options.OPTIONS if o.name in mine and o.param is not None}
    assert expected <= set(params)


def test_a_model_form_check_puts_the_error_on_the_option_it_concerns() -> None:
    """VoiceCall.clean(), Django's hook for a host's own ModelForm, runs the same check."""
    from django.core.exceptions import ValidationError

    call = VoiceCall(kind="template", template_id="t-1", phone=PHONE, ivr_key=1)
    with pytest.raises(ValidationError) as refused:
        call.clean()
    assert list(refused.value.message_dict) == ["ivr_key"]
    valid = VoiceCall(kind="record", template_id="r-1", phone="+84 90 188 8484")
    valid.clean()
    assert valid.phone == PHONE


def test_an_optional_select_offers_the_same_empty_choice_on_every_django_version() -> None:
    # Django 6.1 labels it "- Select an option -", a string it does not translate into Vietnamese.
    voice = next(o for o in options.OPTIONS if o.name == "voice").form_field()
    empty, *voices = list(voice.choices)
    assert empty == ("", "---------")
    assert [value for value, _ in voices] == [
        value for value, _ in VoiceCall._meta.get_field("voice").choices
    ]
