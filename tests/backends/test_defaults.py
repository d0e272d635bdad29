"""The ESMS_VOICE call defaults: filled once by the base every backend inherits, not the client."""

from __future__ import annotations

from typing import Any

import pytest

from django_esms_voice.backends import BaseBackend, HttpBackend, with_defaults
from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import (
    Balance,
    CallRequest,
    CallResult,
    CallSubmission,
    RecordCallRequest,
    TemplateCallRequest,
)
from tests.esms.canned import mount, query

CALL_ACCEPTED = {"CodeResult": "100", "SMSID": "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf "}


def record(**overrides: Any) -> RecordCallRequest:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "7821"}
    return RecordCallRequest(**{**values, **overrides})


def template(**overrides: Any) -> TemplateCallRequest:
    values: dict[str, Any] = {"phone": "0901888484", "template_id": "3346"}
    return TemplateCallRequest(**{**values, **overrides})


@pytest.fixture
def defaults_settings(settings):
    settings.ESMS_VOICE = {
        "API_KEY": "test-key",
        "SECRET_KEY": "test-secret",
        "CALLBACK_BASE_URL": "https://voice.example.test",
        "DEFAULT_MAX_REPEAT": 3,
        "DEFAULT_MAX_RETRY": 2,
        "DEFAULT_WAIT_RETRY": 30,
        "DEFAULT_TIME_WAIT_TO_IVR": 8,
        "DEFAULT_VOICE": "ngoclam",
        "DEFAULT_SPEED": 1,
    }
    return settings


def test_the_http_backend_fills_record_call_defaults_when_left_out(defaults_settings):
    backend = HttpBackend()
    adapter = mount(backend.client).reply(CALL_ACCEPTED)
    backend.make_call(record())
    params = query(adapter.sent[0])
    assert (params["ApiKey"], params["SecretKey"]) == ("test-key", "test-secret")
    assert {k: params[k] for k in ("MaxRepeat", "MaxRetry", "WaitRetry", "TimeWaitToIvr")} == {
        "MaxRepeat": "3",
        "MaxRetry": "2",
        "WaitRetry": "30",
        "TimeWaitToIvr": "8",
    }
    # Voice options belong to the other endpoint.
    assert "Voice" not in params
    assert "Speed" not in params


def test_the_http_backend_keeps_record_call_values_given_even_zero(defaults_settings):
    backend = HttpBackend()
    adapter = mount(backend.client).reply(CALL_ACCEPTED)
    backend.make_call(record(max_repeat=0, max_retry=0, wait_retry=5, time_wait_to_ivr=0))
    params = query(adapter.sent[0])
    assert {k: params[k] for k in ("MaxRepeat", "MaxRetry", "WaitRetry", "TimeWaitToIvr")} == {
        "MaxRepeat": "0",
        "MaxRetry": "0",
        "WaitRetry": "5",
        "TimeWaitToIvr": "0",
    }


def test_the_http_backend_fills_template_call_defaults_when_left_out(defaults_settings):
    backend = HttpBackend()
    adapter = mount(backend.client).reply(CALL_ACCEPTED)
    backend.make_call(template())
    backend.make_call(template(voice="male", speed=0))
    first, second = (query(sent) for sent in adapter.sent)
    assert (first["Voice"], first["Speed"]) == ("ngoclam", "1")
    assert (second["Voice"], second["Speed"]) == ("male", "0")
    assert "MaxRetry" not in first


def test_no_defaults_configured_sends_no_options(settings):
    settings.ESMS_VOICE = {"API_KEY": "test-key", "SECRET_KEY": "test-secret"}
    backend = HttpBackend()
    adapter = mount(backend.client).reply(CALL_ACCEPTED)
    backend.make_call(record())
    backend.make_call(template())
    common = {"ApiKey": "test-key", "SecretKey": "test-secret", "Phone": "0901888484"}
    assert query(adapter.sent[0]) == {**common, "TemplateId": "7821"}
    assert query(adapter.sent[1]) == {**common, "TemplateId": "3346"}


def test_a_client_given_to_the_http_backend_gets_the_defaults_too(defaults_settings):
    client = EsmsVoiceClient(api_key="other-key", secret_key="other-secret")
    adapter = mount(client).reply(CALL_ACCEPTED)
    HttpBackend(client).make_call(record())
    assert query(adapter.sent[0])["MaxRetry"] == "2"


@pytest.mark.parametrize("build", [EsmsVoiceClient.from_settings, lambda: None])
def test_the_client_itself_only_speaks_http_and_fills_no_defaults(defaults_settings, build):
    # The defaults are the backends' job: a client used directly sends what it is given.
    client = build() or EsmsVoiceClient(api_key="test-key", secret_key="test-secret")
    adapter = mount(client).reply(CALL_ACCEPTED)
    client.make_record_call(record())
    client.make_template_call(template())
    record_params, template_params = (query(sent) for sent in adapter.sent)
    assert "MaxRetry" not in record_params
    assert "Voice" not in template_params
    assert "Speed" not in template_params


class Recording(BaseBackend):
    """A third-party backend: it only says how a request leaves."""

    def __init__(self) -> None:
        self.sent: list[CallRequest] = []

    def send_call(self, request: CallRequest) -> CallSubmission:
        self.sent.append(request)
        return CallSubmission(code="100", smsid="s-1", request_id=request.request_id)

    def get_send_status(self, smsid: str) -> CallResult:
        raise NotImplementedError

    def get_balance(self) -> Balance:
        raise NotImplementedError


def test_every_backend_inheriting_the_base_gets_the_defaults(defaults_settings):
    backend = Recording()
    backend.make_call(record(max_retry=0))
    backend.make_call(template())
    sent_record, sent_template = backend.sent
    assert (sent_record.max_repeat, sent_record.max_retry) == (3, 0)
    assert (sent_template.voice, sent_template.speed) == ("ngoclam", 1)


def test_with_defaults_returns_the_request_itself_when_nothing_is_missing(defaults_settings):
    given = template(voice="female", speed=-1)
    assert with_defaults(given) is given


def test_a_backend_that_forgets_send_call_says_so(defaults_settings):
    with pytest.raises(NotImplementedError, match="send_call"):
        BaseBackend().make_call(record())
