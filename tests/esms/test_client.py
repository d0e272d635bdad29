"""The client against the fixed vectors of voice-api.md: exact requests out, every sample answer in.

No network: a tiny transport adapter mounted on the client's session records each prepared
request and answers with a canned response.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import (
    CallResult,
    CallSubmission,
    RecordCallRequest,
    TemplateCallRequest,
    format_send_date,
)
from django_esms_voice.exceptions import (
    EsmsApiError,
    EsmsConfigurationError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsNotFoundYet,
    EsmsRejected,
    EsmsTransportError,
)

from .canned import CannedAdapter, mount, query

API_KEY = "vector-api-key"
SECRET_KEY = "vector-secret-key"
UTC = dt.UTC
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

# The samples of voice-api.md, verbatim.
CALL_ACCEPTED = {"CodeResult": "100", "SMSID": "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf "}
CALL_AUTH_FAILED = {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
TEMPLATE_NOT_FOUND = {"CodeResult": "104", "ErrorMessage": "Template not found"}
STATUS_SAMPLE = {
    "CallDuration": 13,
    "CallStatus": "ANSWERED",
    "CodeResponse": "100",
    "Ivr": "",
    "ReferenceId": "505139D7-54F8-48A9-88FA-9460A78731DD",
    "SendStatus": 5,
    "SentResult": 1,
}
STATUS_AUTH_FAILED = {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}
BALANCE_SAMPLE = {"Balance": 36693, "CodeResponse": "100", "UserID": 9999}
BALANCE_AUTH_FAILED = {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}


@pytest.fixture
def client() -> EsmsVoiceClient:
    return EsmsVoiceClient(api_key=API_KEY, secret_key=SECRET_KEY)


@pytest.fixture
def adapter(client: EsmsVoiceClient) -> CannedAdapter:
    return mount(client)


def endpoint_of(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url).path.rsplit("/", 1)[-1]


def record(**overrides: Any) -> RecordCallRequest:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "7821"}
    return RecordCallRequest(**{**values, **overrides})


def template(**overrides: Any) -> TemplateCallRequest:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "3346"}
    return TemplateCallRequest(**{**values, **overrides})


# Requests out


def test_record_call_sends_every_documented_parameter_with_its_exact_name(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    client.make_record_call(
        record(
            request_id="order-42",
            send_at=dt.datetime(2017, 12, 12, 7, 0, tzinfo=UTC),
            number_forward="0912345678",
            ivr=1,
            max_repeat=2,
            max_retry=3,
            time_wait_to_ivr=10,
            wait_retry=60,
            callback_url="https://shop.example.vn/esms/cb/1/",
        )
    )
    [sent] = adapter.sent
    assert sent.method == "GET"
    assert sent.body is None
    parts = urlsplit(sent.url)
    assert (parts.scheme, parts.hostname) == ("https", "voiceapi.esms.vn")
    assert parts.path == "/MainService.svc/json/MakeCallRecord_V2"
    assert query(sent) == {
        "ApiKey": API_KEY,
        "SecretKey": SECRET_KEY,
        "TemplateId": "7821",
        "Phone": "0901888484",
        "SendDate": "2017/12/12 14:00:00",
        "NumberForward": "0912345678",
        "Ivr": "1",
        "MaxRepeat": "2",
        "MaxRetry": "3",
        "TimeWaitToIvr": "10",
        "WaitRetry": "60",
        "CallbackUrl": "https://shop.example.vn/esms/cb/1/",
        # This endpoint alone spells it RequestID.
        "RequestID": "order-42",
    }


def test_template_call_sends_every_documented_parameter_with_its_exact_name(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    client.make_template_call(
        template(
            variables=["Trung", 20000],
            voice="hatieumai",
            speed=-1,
            request_id="order-43",
            send_at=dt.datetime(2017, 12, 12, 7, 0, tzinfo=UTC),
            callback_url="https://shop.example.vn/esms/cb/2/",
        )
    )
    [sent] = adapter.sent
    assert sent.method == "GET"
    assert urlsplit(sent.url).path == "/MainService.svc/json/MakeCallTemplate_V2"
    assert query(sent) == {
        "ApiKey": API_KEY,
        "SecretKey": SECRET_KEY,
        "TemplateId": "3346",
        "Phone": "0901888484",
        "VariableListStr": "Trung||20000",
        "Voice": "hatieumai",
        "Speed": "-1",
        "SendDate": "2017/12/12 14:00:00",
        "CallbackUrl": "https://shop.example.vn/esms/cb/2/",
        "RequestId": "order-43",
    }


def test_minimal_calls_send_only_what_was_given(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    client.make_record_call(record())
    client.make_template_call(template())
    expected = {"ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": "0901888484"}
    assert query(adapter.sent[0]) == {**expected, "TemplateId": "7821"}
    assert query(adapter.sent[1]) == {**expected, "TemplateId": "3346"}


def test_phone_is_sent_in_national_form(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    client.make_record_call(record(phone="+84 90 188 8484", number_forward="84912345678", ivr=0))
    params = query(adapter.sent[0])
    assert params["Phone"] == "0901888484"
    assert params["NumberForward"] == "0912345678"
    assert params["Ivr"] == "0"


def at(*fields: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=tz)


def offset(hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2017, 12, 12, 7, 0, tz=UTC), "2017/12/12 14:00:00"),
        (at(2017, 12, 12, 14, 0, tz=VIETNAM), "2017/12/12 14:00:00"),
        (at(2017, 12, 12, 2, 0, tz=ZoneInfo("America/New_York")), "2017/12/12 14:00:00"),
        (at(2017, 12, 12, 16, 0, tz=offset(9)), "2017/12/12 14:00:00"),
        (at(2017, 12, 11, 23, 0, tz=offset(-8)), "2017/12/12 14:00:00"),
        (at(2017, 12, 12, 8, 0, tz=ZoneInfo("Europe/Paris")), "2017/12/12 14:00:00"),
        # Summer time elsewhere does not move Vietnam's clock.
        (at(2017, 7, 12, 9, 0, tz=ZoneInfo("Europe/Paris")), "2017/07/12 14:00:00"),
        # 24-hour clock, seconds kept, date rolls over in Vietnam.
        (at(2017, 12, 12, 8, 30, 5, tz=UTC), "2017/12/12 15:30:05"),
        (at(2017, 12, 31, 17, 0, tz=UTC), "2018/01/01 00:00:00"),
        (at(2018, 1, 1, 5, 9, 8, tz=UTC), "2018/01/01 12:09:08"),
    ],
)
def test_send_date_is_vietnam_local_time_in_the_documented_format(
    client, adapter, moment, expected
):
    assert format_send_date(moment) == expected
    adapter.reply(CALL_ACCEPTED)
    client.make_record_call(record(send_at=moment))
    client.make_template_call(template(send_at=moment))
    assert [query(sent)["SendDate"] for sent in adapter.sent] == [expected, expected]


@pytest.mark.parametrize(
    "callback_url",
    [
        "https://voice.example.test/esms/cb/5b0c/tok?a=1&b=2",
        "https://voice.example.test/esms/cb/a b/Nguyễn Văn An/?a=1&b=2&ten=Trần Thị",
        "https://voice.example.test/esms/cb/x/?next=%2Fhome&q=a%26b",
        "http://127.0.0.1:8000/cb/?ReferenceId=&CallDuration=&CallStatus=",
    ],
)
def test_callback_url_is_encoded_exactly_once(client, adapter, callback_url):
    adapter.reply(CALL_ACCEPTED)
    client.make_record_call(record(callback_url=callback_url))
    client.make_template_call(template(callback_url=callback_url))
    for sent in adapter.sent:
        params = query(sent)
        # One decoding gives the URL back: encoded once, not twice, not left raw.
        assert params["CallbackUrl"] == callback_url
        # The URL's own query did not leak into the request's parameters.
        assert not {"a", "b", "ten", "next", "q", "CallDuration"} & params.keys()


# Sample answers in


def test_accepted_call_returns_the_stripped_smsid(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    submission = client.make_record_call(record(request_id="order-42"))
    assert submission == CallSubmission(
        code="100",
        smsid="8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf",
        request_id="order-42",
        already_received=False,
    )


def test_template_call_accepted_returns_the_stripped_smsid(client, adapter):
    adapter.reply(CALL_ACCEPTED)
    submission = client.make_template_call(template(request_id="order-43"))
    assert submission.smsid == "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf"
    assert submission.request_id == "order-43"
    assert submission.already_received is False


@pytest.mark.parametrize("code", ["100", 100, " 100 "])
def test_code_result_as_number_or_string(client, adapter, code):
    adapter.reply({"CodeResult": code, "SMSID": "abc-1"})
    submission = client.make_record_call(record())
    assert submission.code == "100"
    assert submission.smsid == "abc-1"


@pytest.mark.parametrize("code", ["124", 124])
def test_duplicate_request_id_means_already_received(client, adapter, code):
    adapter.reply({"CodeResult": code, "ErrorMessage": "Duplicate RequestId"})
    submission = client.make_record_call(record(request_id="order-42"))
    assert submission.already_received is True
    assert submission.code == "124"
    assert submission.request_id == "order-42"


def test_authorize_failed_is_a_configuration_error(client, adapter):
    adapter.reply(CALL_AUTH_FAILED)
    with pytest.raises(EsmsConfigurationError) as caught:
        client.make_record_call(record())
    error = caught.value
    assert error.code == "101"
    assert error.endpoint == "MakeCallRecord_V2"
    assert error.provider_message == "Authorize Failed"
    assert error.retryable is False
    assert "101" in str(error)


def test_template_not_found_is_a_rejection(client, adapter):
    adapter.reply(TEMPLATE_NOT_FOUND)
    with pytest.raises(EsmsRejected) as caught:
        client.make_template_call(template())
    assert not isinstance(caught.value, EsmsConfigurationError)
    assert caught.value.code == "104"
    assert caught.value.endpoint == "MakeCallTemplate_V2"
    assert caught.value.provider_message == "Template not found"
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        ("99", EsmsRejected),
        ("102", EsmsConfigurationError),
        ("103", EsmsRejected),
        ("106", EsmsRejected),
        ("108", EsmsRejected),
        ("140", EsmsConfigurationError),
        (140, EsmsConfigurationError),
    ],
)
def test_documented_refusals(client, adapter, code, error_class):
    adapter.reply({"CodeResult": code, "ErrorMessage": "refused"})
    with pytest.raises(error_class) as caught:
        client.make_record_call(record())
    assert caught.value.code == str(code)
    assert caught.value.retryable is False
    # Refusals and configuration errors are different things: the class says which.
    assert isinstance(caught.value, EsmsConfigurationError) == (
        error_class is EsmsConfigurationError
    )


def test_unknown_code_is_kept_as_it_came(client, adapter):
    adapter.reply({"CodeResult": "999", "ErrorMessage": "Something new"})
    with pytest.raises(EsmsRejected) as caught:
        client.make_record_call(record())
    assert caught.value.code == "999"
    assert caught.value.provider_message == "Something new"
    assert caught.value.retryable is False
    assert "999" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"SMSID": "abc"},
        {"ErrorMessage": "no code"},
        {"CodeResult": None, "SMSID": "abc"},
        {"CodeResult": "", "SMSID": "abc"},
        {"CodeResult": "  ", "ErrorMessage": "blank"},
        {},
    ],
)
def test_missing_code_is_an_invalid_response(client, adapter, body):
    adapter.reply(body)
    with pytest.raises(EsmsInvalidResponse):
        client.make_record_call(record())


def test_accepted_without_smsid_is_an_invalid_response(client, adapter):
    adapter.reply({"CodeResult": "100", "SMSID": " "})
    with pytest.raises(EsmsInvalidResponse):
        client.make_record_call(record())


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'[{"CodeResult": "100", "SMSID": "abc"}]', "application/json"),
        (b'"100"', "application/json"),
        (b"100", "application/json"),
        (b"null", "application/json"),
        (b"<html><body>Service Unavailable</body></html>", "text/html"),
        (b"", "text/plain"),
        (b'{"CodeResult": "100", "SMSID"', "application/json"),
    ],
)
def test_answer_that_is_not_a_json_object_is_an_invalid_response(
    client, adapter, body, content_type
):
    adapter.reply(body, content_type=content_type)
    with pytest.raises(EsmsInvalidResponse) as caught:
        client.make_record_call(record())
    # Not JSON: it may or may not have reached eSMS, so resending the same RequestId is the retry.
    assert isinstance(caught.value, EsmsTransportError)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (404, False), (400, False), (403, False)],
)
def test_http_errors(client, adapter, status, retryable):
    adapter.reply(b"<html>error</html>", status=status, content_type="text/html")
    with pytest.raises(EsmsHTTPError) as caught:
        client.make_record_call(record())
    assert caught.value.status_code == status
    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value)


def test_http_error_wins_over_a_json_body(client, adapter):
    adapter.reply(CALL_ACCEPTED, status=503)
    with pytest.raises(EsmsHTTPError) as caught:
        client.make_record_call(record())
    assert caught.value.retryable is True


# GetSendStatus


def test_get_send_status_sample_parses_to_typed_result(client, adapter):
    adapter.reply(STATUS_SAMPLE)
    result = client.get_send_status(" 505139d7-54f8-48a9-88fa-9460a78731dd ")
    [sent] = adapter.sent
    assert sent.method == "GET"
    assert endpoint_of(sent) == "GetSendStatus"
    assert query(sent) == {
        "ApiKey": API_KEY,
        "SecretKey": SECRET_KEY,
        "ReferenceId": "505139d7-54f8-48a9-88fa-9460a78731dd",
    }
    assert isinstance(result, CallResult)
    assert result.reference_id.casefold() == "505139d7-54f8-48a9-88fa-9460a78731dd"
    assert result.call_status == "ANSWERED"
    assert result.call_duration == 13
    assert result.send_status == 5
    assert result.sent_result == 1
    assert result.ivr == ""
    assert all(
        type(value) is int
        for value in (result.call_duration, result.send_status, result.sent_result)
    )


def test_get_send_status_accepts_numbers_sent_as_strings(client, adapter):
    adapter.reply(
        {**STATUS_SAMPLE, "CallDuration": "13", "SendStatus": "5", "SentResult": "1", "Ivr": "1"}
    )
    result = client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
    assert (result.call_duration, result.send_status, result.sent_result, result.ivr) == (
        13,
        5,
        1,
        "1",
    )


def test_get_send_status_no_answer(client, adapter):
    adapter.reply({**STATUS_SAMPLE, "CallStatus": "NOANSWERED", "CallDuration": 0, "SendStatus": 5})
    result = client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
    assert result.call_status == "NOANSWERED"
    assert result.call_duration == 0


def test_get_send_status_error_form_with_count_regenerate(client, adapter):
    adapter.reply(STATUS_AUTH_FAILED)
    with pytest.raises(EsmsConfigurationError) as caught:
        client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
    assert caught.value.code == "101"
    assert caught.value.endpoint == "GetSendStatus"
    assert caught.value.provider_message == "Authorize Failed"


@pytest.mark.parametrize("key", ["CodeResponse", "CodeResult"])
def test_get_send_status_not_found_yet_is_retryable(client, adapter, key):
    adapter.reply({key: "105", "ErrorMessage": "ReferenceId not found"})
    with pytest.raises(EsmsNotFoundYet) as caught:
        client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
    assert caught.value.code == "105"
    assert caught.value.retryable is True


def test_get_send_status_malformed_field_is_an_invalid_response(client, adapter):
    adapter.reply({**STATUS_SAMPLE, "SendStatus": "finished"})
    with pytest.raises(EsmsInvalidResponse):
        client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")


@pytest.mark.parametrize("reference_id", ["", "   ", None])
def test_get_send_status_needs_an_id(client, adapter, reference_id):
    with pytest.raises(ValueError, match="SMSID"):
        client.get_send_status(reference_id)
    assert adapter.sent == []


# GetBalance_json


def test_get_balance_sample(client, adapter):
    adapter.reply(BALANCE_SAMPLE)
    balance = client.get_balance()
    [sent] = adapter.sent
    assert sent.method == "POST"
    assert sent.url == "https://rest.esms.vn/MainService.svc/json/GetBalance_json"
    assert json.loads(sent.body) == {"ApiKey": API_KEY, "SecretKey": SECRET_KEY}
    assert sent.headers["Content-Type"] == "application/json"
    assert balance.balance == Decimal("36693")
    assert balance.user_id == "9999"


def test_get_balance_error(client, adapter):
    adapter.reply(BALANCE_AUTH_FAILED)
    with pytest.raises(EsmsConfigurationError) as caught:
        client.get_balance()
    assert caught.value.code == "101"
    assert caught.value.endpoint == "GetBalance_json"


def test_get_balance_that_is_not_a_number(client, adapter):
    adapter.reply({"Balance": "lots", "CodeResponse": "100", "UserID": 9999})
    with pytest.raises(EsmsInvalidResponse):
        client.get_balance()


# Every error is an EsmsApiError or a transport error, never a bare exception.


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (lambda c: c.make_record_call(record()), {"CodeResult": "999"}),
        (lambda c: c.make_template_call(template()), {"CodeResult": "101"}),
        (lambda c: c.get_send_status("abc"), {"CodeResponse": "108"}),
        (lambda c: c.get_balance(), {"CodeResponse": "103", "Balance": 0}),
    ],
)
def test_error_codes_raise_api_errors_on_every_endpoint(
    client, adapter, call: Callable[[EsmsVoiceClient], Any], body
):
    adapter.reply(body)
    with pytest.raises(EsmsApiError):
        call(client)


def test_from_settings_uses_the_configured_urls(settings):
    settings.ESMS_VOICE = {
        "API_KEY": "test-key",
        "SECRET_KEY": "test-secret",
        "BASE_URL": "http://127.0.0.1:8765/MainService.svc/json/",
        "BALANCE_URL": "http://127.0.0.1:8766/MainService.svc/json/",
    }
    client = EsmsVoiceClient.from_settings()
    adapter = mount(client).reply(CALL_ACCEPTED)
    client.make_record_call(record())
    adapter.answers = []
    adapter.reply(BALANCE_SAMPLE)
    client.get_balance()
    assert adapter.sent[0].url.startswith(
        "http://127.0.0.1:8765/MainService.svc/json/MakeCallRecord_V2?"
    )
    assert adapter.sent[1].url == "http://127.0.0.1:8766/MainService.svc/json/GetBalance_json"
