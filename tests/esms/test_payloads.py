"""Bad call inputs are refused before any request leaves, each with a message that says why."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import RecordCallRequest, TemplateCallRequest, parse_delivery
from django_esms_voice.esms.phone import normalize_phone
from django_esms_voice.exceptions import EsmsInputError, InvalidPhoneNumber

UTC = dt.UTC
AWARE = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class RecordingAdapter(BaseAdapter):
    """Count the requests that reach the transport; any request here is a failure of the test."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(request)
        raise AssertionError(f"a request left for a refused call: {request.method}")

    def close(self) -> None:
        pass


@pytest.fixture
def client_and_adapter() -> tuple[EsmsVoiceClient, RecordingAdapter]:
    client = EsmsVoiceClient(api_key="inputs-api-key", secret_key="inputs-secret-key")
    adapter = RecordingAdapter()
    client.session.mount("https://", adapter)
    client.session.mount("http://", adapter)
    return client, adapter


def record_call(client: EsmsVoiceClient, **overrides: Any) -> Any:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "7821"}
    return client.make_record_call(RecordCallRequest(**{**values, **overrides}))


def template_call(client: EsmsVoiceClient, **overrides: Any) -> Any:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "3346"}
    return client.make_template_call(TemplateCallRequest(**{**values, **overrides}))


def refused(
    client_and_adapter: tuple[EsmsVoiceClient, RecordingAdapter],
    call: Callable[..., Any],
    error_class: type[EsmsInputError] = EsmsInputError,
    **overrides: Any,
) -> EsmsInputError:
    """Make the call, expect the input error, and check nothing reached the transport."""
    client, adapter = client_and_adapter
    with pytest.raises(error_class) as caught:
        call(client, **overrides)
    assert adapter.sent == []
    return caught.value


# Phones

BAD_PHONES = [
    ("", "A phone number is required."),
    ("   ", "A phone number is required."),
    ("abc", "contains letters"),
    ("0901abcdef", "contains letters"),
    ("O901888484", "contains letters"),
    ("09018", "it is too short"),
    ("0901888484123", "it is too long"),
    ("+1 650 253 0000", "it belongs to country code +1, not Vietnam (+84)"),
    ("+33 1 42 68 53 00", "it belongs to country code +33, not Vietnam (+84)"),
    ("0123456789", "no Vietnamese network uses this prefix"),
    ("0901888484;ext=5", "contains letters"),
    ("0901888484 x5", "contains letters"),
    ("0901888484#5", "it has an extension"),
    ("0901888484,5", "it has an extension"),
    ("+84 901 888 484 #12", "it has an extension"),
    (None, "A phone number must be text."),
    (True, "A phone number must be text."),
    (False, "A phone number must be text."),
    (9.01888484e8, "A phone number must be text."),
    (["0901888484"], "A phone number must be text."),
]


@pytest.mark.parametrize(("phone", "message"), BAD_PHONES)
@pytest.mark.parametrize("call", [record_call, template_call])
def test_bad_phone_is_refused_before_sending(client_and_adapter, call, phone, message):
    error = refused(client_and_adapter, call, InvalidPhoneNumber, phone=phone)
    assert error.field == "phone"
    assert message in str(error)
    assert str(error).startswith("phone: ")
    # A refused number is named in the message, so the user can find the bad row.
    if isinstance(phone, str) and phone.strip():
        assert phone.strip() in str(error)


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("0901888484", "0901888484"),
        ("+84 90 188 8484", "0901888484"),
        ("+84901888484", "0901888484"),
        ("84901888484", "0901888484"),
        ("090-188-8484", "0901888484"),
        ("(090) 188.8484", "0901888484"),
        (" 0901 888 484 ", "0901888484"),
        ("+84 (0) 901 888 484", "0901888484"),
        ("02871002454", "02871002454"),
        ("+84 28 7100 2454", "02871002454"),
        ("0912345678", "0912345678"),
        ("0387654321", "0387654321"),
    ],
)
def test_accepted_phone_forms_are_normalised(phone, expected):
    assert normalize_phone(phone) == expected
    assert RecordCallRequest(phone=phone, template_id="1").phone == expected
    assert TemplateCallRequest(phone=phone, template_id="1").phone == expected


@pytest.mark.parametrize("value", ["0123456789", None, "0901888484;ext=5"])
def test_an_invalid_phone_is_refused_with_invalid_phone_number(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(value)


# Dates


def test_naive_send_date_is_refused(client_and_adapter):
    error = refused(client_and_adapter, record_call, send_at=dt.datetime(2030, 1, 2, 3, 4, 5))
    assert error.field == "send_at"
    assert "timezone-aware" in str(error)
    error = refused(client_and_adapter, template_call, send_at=dt.datetime(2030, 1, 2, 3, 4, 5))
    assert error.field == "send_at"


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(dt.date(2030, 1, 2), "date"), ("2030/01/02 10:00:00", "str"), (1893456000, "int")],
)
def test_send_date_that_is_not_a_datetime_is_refused(client_and_adapter, value, type_name):
    error = refused(client_and_adapter, record_call, send_at=value)
    assert error.field == "send_at"
    assert f"not {type_name}" in str(error)


# Template variables, voice, speed


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (["Trung", "20||000"], "Value 2 contains '||'"),
        (["a||b"], "Value 1 contains '||'"),
        ("Trung||20000", "Give a list of values"),
        ("Trung", "Give a list of values"),
        (b"Trung", "Give a list of values"),
        (42, "Give a list of values"),
        ({"name": "Trung"}, "Give a list of values"),
        (["Trung", None], "Value 2 must be text or a number"),
        (["Trung", True], "Value 2 must be text or a number"),
        ([["nested"]], "Value 1 must be text or a number"),
    ],
)
def test_bad_variables_are_refused(client_and_adapter, variables, message):
    error = refused(client_and_adapter, template_call, variables=variables)
    assert error.field == "variables"
    assert message in str(error)


def test_variables_accept_text_numbers_and_tuples():
    request = TemplateCallRequest(
        phone="0901888484", template_id="1", variables=("Trung", 20000, Decimal("1.5"), "")
    )
    assert request.to_params()["VariableListStr"] == "Trung||20000||1.5||"


@pytest.mark.parametrize("voice", ["robot", "Male", "", "north"])
def test_unknown_voice_is_refused(client_and_adapter, voice):
    error = refused(client_and_adapter, template_call, voice=voice)
    assert error.field == "voice"
    assert "male, female, hatieumai, ngoclam" in str(error)
    assert repr(voice) in str(error)


@pytest.mark.parametrize("voice", ["male", "female", "hatieumai", "ngoclam"])
def test_documented_voices_are_accepted(voice):
    assert TemplateCallRequest(phone="0901888484", template_id="1", voice=voice).voice == voice


@pytest.mark.parametrize("speed", [4, -4, True, False, "1", 1.0, 0.5, 100])
def test_bad_speed_is_refused(client_and_adapter, speed):
    error = refused(client_and_adapter, template_call, speed=speed)
    assert error.field == "speed"
    assert "whole number from -3 to 3" in str(error)


@pytest.mark.parametrize("speed", [-3, 0, 3])
def test_speed_bounds_are_accepted(speed):
    request = TemplateCallRequest(phone="0901888484", template_id="1", speed=speed)
    assert request.to_params()["Speed"] == str(speed)


# IVR and forwarding


@pytest.mark.parametrize(
    ("ivr", "message"),
    [
        (10, "Must be 0-9, got 10."),
        (-1, "Must be 0-9, got -1."),
        ("a", "Expected a whole number, got 'a'."),
        ("12", "Expected a whole number, got '12'."),
        (True, "Expected a whole number, got True."),
        (1.0, "Expected a whole number, got 1.0."),
    ],
)
def test_bad_ivr_key_is_refused(client_and_adapter, ivr, message):
    error = refused(client_and_adapter, record_call, ivr=ivr, number_forward="0912345678")
    assert error.field == "ivr"
    assert message in str(error)


@pytest.mark.parametrize(("ivr", "sent"), [(0, "0"), (9, "9"), ("5", "5"), (" 1 ", "1")])
def test_ivr_key_forms_accepted(ivr, sent):
    request = RecordCallRequest(
        phone="0901888484", template_id="1", ivr=ivr, number_forward="0912345678"
    )
    assert request.to_params()["Ivr"] == sent


@pytest.mark.parametrize(
    "options", [{"ivr": 1}, {"number_forward": "0912345678"}, {"ivr": 1, "number_forward": ""}]
)
def test_ivr_and_number_forward_go_together(client_and_adapter, options):
    error = refused(client_and_adapter, record_call, **options)
    assert error.field == "ivr"
    assert "give both or neither" in str(error)


@pytest.mark.parametrize(
    ("number_forward", "message"),
    [
        ("0123456789", "no Vietnamese network uses this prefix"),
        ("abc", "contains letters"),
        ("+1 650 253 0000", "not Vietnam (+84)"),
        (True, "A phone number must be text."),
    ],
)
def test_bad_number_forward_is_refused(client_and_adapter, number_forward, message):
    error = refused(
        client_and_adapter, record_call, InvalidPhoneNumber, ivr=1, number_forward=number_forward
    )
    assert error.field == "number_forward"
    assert str(error).startswith("number_forward: ")
    assert message in str(error)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_repeat", -1, "Must be >= 0, got -1."),
        ("max_retry", -2, "Must be >= 0, got -2."),
        ("wait_retry", "60", "Expected a whole number, got '60'."),
        ("time_wait_to_ivr", 1.5, "Expected a whole number, got 1.5."),
        ("max_retry", True, "Expected a whole number, got True."),
    ],
)
def test_bad_whole_number_options_are_refused(client_and_adapter, name, value, message):
    error = refused(client_and_adapter, record_call, **{name: value})
    assert error.field == name
    assert message in str(error)


# RequestId, template id, callback URL


@pytest.mark.parametrize("call", [record_call, template_call])
def test_request_id_longer_than_50_is_refused(client_and_adapter, call):
    error = refused(client_and_adapter, call, request_id="r" * 51)
    assert error.field == "request_id"
    assert "At most 50 characters" in str(error)


def test_request_id_of_50_is_accepted():
    request = RecordCallRequest(phone="0901888484", template_id="1", request_id="r" * 50)
    assert request.to_params()["RequestID"] == "r" * 50


@pytest.mark.parametrize("template_id", ["", "   ", None])
@pytest.mark.parametrize("call", [record_call, template_call])
def test_empty_template_id_is_refused(client_and_adapter, call, template_id):
    error = refused(client_and_adapter, call, template_id=template_id)
    assert error.field == "template_id"
    assert "This value is required." in str(error)


@pytest.mark.parametrize("template_id", [True, 1.5, ["1"]])
def test_template_id_of_wrong_type_is_refused(client_and_adapter, template_id):
    error = refused(client_and_adapter, record_call, template_id=template_id)
    assert error.field == "template_id"
    assert "Expected text" in str(error)


@pytest.mark.parametrize(
    "callback_url",
    [
        "/esms/callback/1/",
        "esms/callback/1/",
        "voice.example.test/cb/",
        "ftp://voice.example.test/cb/",
        "javascript:alert(1)",
        "https:///cb/",
    ],
)
@pytest.mark.parametrize("call", [record_call, template_call])
def test_callback_url_that_is_not_absolute_http_is_refused(client_and_adapter, call, callback_url):
    error = refused(client_and_adapter, call, callback_url=callback_url)
    assert error.field == "callback_url"
    assert "absolute http(s) URL" in str(error)


def test_input_errors_are_value_errors():
    # Callers that catch ValueError around a form's clean() keep working.
    with pytest.raises(ValueError, match="phone"):
        RecordCallRequest(phone="0123456789", template_id="1")


# Property: any text is either a Vietnamese number in national digits, or InvalidPhoneNumber.

NATIONAL = re.compile(r"0\d{7,10}|1\d{7,9}")
PHONE_LIKE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789 +-().#,;x", max_size=24),
    st.from_regex(r"\A(\+?84|0)[ .-]?[1-9][0-9 .-]{6,12}\Z"),
    st.from_regex(r"\A0(3|5|7|8|9)\d{8}\Z"),
    # A valid mobile number followed by what phonenumbers reads as an extension.
    st.tuples(
        st.from_regex(r"\A0(3|5|7|8|9)\d{8}\Z"),
        st.sampled_from(["#", ",", ";ext=", " ext. ", " x"]),
        st.from_regex(r"\A\d{1,4}\Z"),
    ).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PHONE_LIKE)
def test_any_text_normalises_or_raises_invalid_phone_number(text):
    refusal: InvalidPhoneNumber | None = None
    try:
        national = normalize_phone(text)
    except InvalidPhoneNumber as error:
        refusal = error
    if refusal is not None:
        assert refusal.field == "phone"
        assert str(refusal).startswith("phone: ")
        return
    assert NATIONAL.fullmatch(national), national
    # The national form is itself valid and stable: normalising it again changes nothing,
    # and its international spelling means the same number.
    assert normalize_phone(national) == national
    if national.startswith("0"):
        assert normalize_phone("+84" + national[1:]) == national


# A callback's fields, query and body together


def test_a_delivery_is_parsed_from_its_pairs():
    result, why = parse_delivery(
        [("ReferenceId", "SMS-1"), ("SendStatus", "5"), ("CallStatus", "ANSWERED")]
    )
    assert why == ""
    assert result is not None
    assert (result.reference_id, result.send_status, result.call_status) == ("SMS-1", 5, "ANSWERED")


@pytest.mark.parametrize(
    ("pairs", "why"),
    [
        ([("ReferenceId", "SMS-1")], "SendStatus is missing"),
        ([("SendStatus", "5"), ("SendStatus", "2")], "parameter 'SendStatus' repeated"),
        ([("SendStatus", "9")], "SendStatus 9 is not one of (2, 5, 7)"),
    ],
)
def test_a_delivery_that_is_not_a_result_says_why(pairs, why):
    result, error = parse_delivery(pairs)
    assert result is None
    assert why in error


def test_a_parameter_repeated_with_the_same_value_is_one_value():
    result, why = parse_delivery([("SendStatus", "7"), ("SendStatus", "7")])
    assert (why, result and result.send_status) == ("", 7)
