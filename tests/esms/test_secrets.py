"""The ApiKey and SecretKey never show up in errors, reprs, check messages or log records.

The voice endpoints are GET-only, so the credentials travel in the query string: every error
path and every logger that prints a URL is a way for them to leak. The client talks to a
small HTTP server on loopback that answers whatever each test asks, including bodies that
echo the credentials back.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core import checks

from django_esms_voice.conf import voice_settings
from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import (
    RecordCallRequest,
)
from django_esms_voice.esms.redaction import MASK
from django_esms_voice.exceptions import (
    EsmsConfigurationError,
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsNotFoundYet,
    EsmsRejected,
    EsmsTimeout,
    EsmsVoiceError,
)

from .echo import (
    API_KEY,
    SECRET_KEY,
    Answer,
    all_text_of,
    leaked,
    urllib3_request_lines,
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def echo_query(path: str) -> bytes:
    """An HTML error page that prints the request URL back, as real servers do."""
    return f"<html><body>Bad request: {path}</body></html>".encode()


def code_echoing_secrets(code: str) -> Callable[[str], bytes]:
    def body(path: str) -> bytes:
        params = dict(parse_qsl(urlsplit(path).query))
        message = (
            f"Key {params.get('ApiKey')} with secret {params.get('SecretKey')} refused; "
            f"request was {path}"
        )
        return json.dumps({"CodeResult": code, "ErrorMessage": message}).encode()

    return body


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the log checks would prove nothing"
    for record in caplog.records:
        message = record.getMessage()
        assert not leaked(message), (record.name, message)
        assert not leaked(repr(record.args)), (record.name, record.args)
    assert not leaked(caplog.text)


def record_call() -> RecordCallRequest:
    return RecordCallRequest(phone="0901888484", template_id="7821", request_id="req-1")


ERROR_PATHS = [
    pytest.param(
        Answer(body=b'{"CodeResult": "100", "SMSID": "late"}', delay=2.0),
        EsmsTimeout,
        id="timeout",
    ),
    pytest.param(
        Answer(status=500, body=echo_query, content_type="text/html"), EsmsHTTPError, id="http-500"
    ),
    pytest.param(
        Answer(status=200, body=echo_query, content_type="text/html"),
        EsmsInvalidResponse,
        id="non-json-echoing-the-secret",
    ),
    pytest.param(
        Answer(body=b'{"CodeResult": "101", "ErrorMessage": "Authorize Failed"}'),
        EsmsConfigurationError,
        id="101",
    ),
    pytest.param(
        Answer(body=code_echoing_secrets("101")), EsmsConfigurationError, id="101-echoing"
    ),
    pytest.param(Answer(body=code_echoing_secrets("999")), EsmsRejected, id="999-echoing"),
    pytest.param(Answer(body=b'[{"CodeResult": "100"}]'), EsmsInvalidResponse, id="json-list"),
]


@pytest.mark.parametrize(("answer", "error_class"), ERROR_PATHS)
def test_make_call_errors_never_show_the_credentials(
    server, client, debug_logs, answer, error_class
):
    server.answer = answer
    with pytest.raises(error_class) as caught:
        client.make_record_call(record_call())
    # The request did carry the credentials: the absence below means something.
    assert server.seen[0].params["ApiKey"] == API_KEY
    assert server.seen[0].params["SecretKey"] == SECRET_KEY
    text = all_text_of(caught.value)
    assert not leaked(text), text
    assert_logs_clean(debug_logs)


def test_echoed_secret_is_masked_not_dropped(server, client):
    server.answer = Answer(body=code_echoing_secrets("999"))
    with pytest.raises(EsmsRejected) as caught:
        client.make_record_call(record_call())
    # The rest of the provider's message survives; only the credentials are masked.
    assert caught.value.provider_message.startswith(f"Key {MASK} with secret {MASK} refused")
    assert caught.value.code == "999"


@pytest.mark.parametrize("padding", [100, 110, 115, 190, 195])
@pytest.mark.parametrize(
    ("answer_for", "error_class"),
    [
        (
            lambda pad: Answer(
                status=503, body=b"x" * pad + API_KEY.encode(), content_type="text/html"
            ),
            EsmsHTTPError,
        ),
        (
            lambda pad: Answer(body=b"<" + b"x" * pad + SECRET_KEY.encode()),
            EsmsInvalidResponse,
        ),
        (
            lambda pad: Answer(
                body=json.dumps({"CodeResult": "999", "ErrorMessage": "x" * pad + API_KEY}).encode()
            ),
            EsmsRejected,
        ),
    ],
)
def test_a_secret_cut_by_truncation_does_not_leak_its_beginning(
    server, client, padding, answer_for, error_class
):
    server.answer = answer_for(padding)
    with pytest.raises(error_class) as caught:
        client.make_record_call(record_call())
    text = all_text_of(caught.value)
    assert not leaked(text), text


def test_connection_refused_never_shows_the_credentials(debug_logs):
    port = closed_port()
    refused_client = EsmsVoiceClient(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        base_url=f"http://127.0.0.1:{port}/MainService.svc/json/",
        timeout=(1.0, 1.0),
    )
    with pytest.raises(EsmsConnectionError) as caught:
        refused_client.make_record_call(record_call())
    assert not leaked(all_text_of(caught.value))
    assert_logs_clean(debug_logs)
    # urllib3 was heard at DEBUG level on this path too.
    assert any(r.name == "urllib3.connectionpool" for r in debug_logs.records)


def test_status_not_found_yet_never_shows_the_credentials(server, client, debug_logs):
    server.answer = Answer(body=b'{"CodeResponse": "105", "ErrorMessage": "not found"}')
    with pytest.raises(EsmsNotFoundYet) as caught:
        client.get_send_status("505139D7-54F8-48A9-88FA-9460A78731DD")
    assert not leaked(all_text_of(caught.value))
    assert_logs_clean(debug_logs)


def test_balance_error_never_shows_the_credentials(server, client, debug_logs):
    server.answer = Answer(body=code_echoing_secrets("101"))
    with pytest.raises(EsmsConfigurationError) as caught:
        client.get_balance()
    assert json.loads(server.seen[0].body) == {"ApiKey": API_KEY, "SecretKey": SECRET_KEY}
    assert not leaked(all_text_of(caught.value))
    assert_logs_clean(debug_logs)


def test_urllib3_request_line_is_logged_and_redacted(server, client, debug_logs):
    server.answer = Answer(body=b'{"CodeResult": "100", "SMSID": "abc "}')
    assert client.make_record_call(record_call()).smsid == "abc"
    server.answer = Answer(
        body=json.dumps({**{"CodeResponse": "100"}, "Balance": 1, "UserID": 1}).encode()
    )
    client.get_balance()
    lines = urllib3_request_lines(debug_logs)
    # urllib3 logs the request line with its query string: the credentials' names are there,
    # their values are masked.
    [call_line] = [line for line in lines if "MakeCallRecord_V2" in line]
    assert "ApiKey=" in call_line
    assert "SecretKey=" in call_line
    assert "TemplateId=7821" in call_line
    assert f"ApiKey={MASK}" in call_line
    assert not leaked(call_line)
    assert_logs_clean(debug_logs)


def test_urllib3_would_print_the_credentials_without_the_redaction(server, client, caplog):
    """Control: the redaction tests look at the line that really carries the query string."""
    connectionpool = logging.getLogger("urllib3.connectionpool")
    saved = list(connectionpool.filters)
    for log_filter in saved:
        connectionpool.removeFilter(log_filter)
    try:
        caplog.set_level(logging.DEBUG, logger="urllib3")
        server.answer = Answer(body=b'{"CodeResult": "100", "SMSID": "abc"}')
        client.make_record_call(record_call())
    finally:
        for log_filter in saved:
            connectionpool.addFilter(log_filter)
    assert any(API_KEY in line for line in urllib3_request_lines(caplog))


def test_client_repr_hides_the_credentials(server, client):
    assert not leaked(repr(client))
    assert not leaked(str(client))
    assert server.base_url in repr(client)


def test_settings_repr_and_checks_hide_the_credentials(settings):
    settings.ESMS_VOICE = {
        "API_KEY": API_KEY,
        "SECRET_KEY": SECRET_KEY,
        "BASE_URL": "voiceapi.esms.vn/MainService.svc/json",
        "BALANCE_URL": "https://rest.esms.vn/MainService.svc/json",
        "CALLBACK_BASE_URL": "http://shop.example.vn",
        "TIMEOUT": "fast",
        "DEFAULT_VOICE": "robot",
        "API_KEYS": "typo",
    }
    messages = checks.run_checks()
    mine = [m for m in messages if str(m.id).startswith("esms_voice.")]
    # Every kind of problem was reported, so every message template was exercised.
    assert {m.id for m in mine} >= {
        "esms_voice.E004",
        "esms_voice.E006",
        "esms_voice.W002",
        "esms_voice.W003",
    }
    for message in mine:
        assert not leaked(f"{message.msg} {message.hint} {message!r}")
    settings.ESMS_VOICE = {"API_KEY": API_KEY, "SECRET_KEY": SECRET_KEY}
    loaded = voice_settings()
    assert loaded.api_key == API_KEY
    assert not leaked(repr(loaded))
    assert not leaked(str(loaded))


ENV_API_KEY = "ENVKEY-SENTINEL-789"
ENV_SECRET_KEY = "ENVSECRET-SENTINEL-012"
ENV_SECRETS = (ENV_API_KEY, ENV_SECRET_KEY)


def test_credentials_from_the_environment_are_used_and_hidden(
    server, settings, monkeypatch, debug_logs
):
    monkeypatch.setenv("ESMS_VOICE_API_KEY", ENV_API_KEY)
    monkeypatch.setenv("ESMS_VOICE_SECRET_KEY", ENV_SECRET_KEY)
    settings.ESMS_VOICE = {
        "BASE_URL": server.base_url,
        "BALANCE_URL": server.base_url,
        "CALLBACK_BASE_URL": "https://voice.example.test",
        "TIMEOUT": (1.0, 0.4),
    }
    env_client = EsmsVoiceClient.from_settings()
    try:
        assert not leaked(repr(env_client), ENV_SECRETS)
        assert not leaked(repr(voice_settings()), ENV_SECRETS)
        server.answer = Answer(status=500, body=echo_query, content_type="text/html")
        with pytest.raises(EsmsHTTPError) as caught:
            env_client.make_record_call(record_call())
        server.answer = Answer(body=code_echoing_secrets("999"))
        with pytest.raises(EsmsRejected) as rejected:
            env_client.make_record_call(record_call())
    finally:
        env_client.close()
    assert [seen.params["ApiKey"] for seen in server.seen] == [ENV_API_KEY, ENV_API_KEY]
    assert [seen.params["SecretKey"] for seen in server.seen] == [ENV_SECRET_KEY] * 2
    for error in (caught.value, rejected.value):
        assert not leaked(all_text_of(error), ENV_SECRETS)
    for record in debug_logs.records:
        assert not leaked(record.getMessage(), ENV_SECRETS), record.getMessage()
    assert urllib3_request_lines(debug_logs)


def test_settings_value_wins_over_the_environment(settings, monkeypatch):
    monkeypatch.setenv("ESMS_VOICE_API_KEY", ENV_API_KEY)
    monkeypatch.setenv("ESMS_VOICE_SECRET_KEY", ENV_SECRET_KEY)
    settings.ESMS_VOICE = {"API_KEY": "from-settings-key"}
    loaded = voice_settings()
    assert (loaded.api_key, loaded.secret_key) == ("from-settings-key", ENV_SECRET_KEY)


def test_missing_credentials_error_names_the_setting_not_a_value(settings, monkeypatch):
    monkeypatch.delenv("ESMS_VOICE_API_KEY", raising=False)
    monkeypatch.delenv("ESMS_VOICE_SECRET_KEY", raising=False)
    settings.ESMS_VOICE = {"SECRET_KEY": SECRET_KEY}
    with pytest.raises(EsmsVoiceError) as caught:
        EsmsVoiceClient.from_settings()
    assert "ESMS_VOICE['API_KEY']" in str(caught.value)
    assert "ESMS_VOICE_API_KEY" in str(caught.value)
    assert not leaked(all_text_of(caught.value))


def test_timeout_error_is_raised_promptly(server, client):
    # The failure tests above rely on the client's own timeout, not the server giving up.
    server.answer = Answer(body=b"{}", delay=3.0)
    started = time.monotonic()
    with pytest.raises(EsmsTimeout):
        client.make_record_call(record_call())
    assert time.monotonic() - started < 2.0


def test_the_public_filter_masks_callback_tokens_in_access_log_lines() -> None:
    from django_esms_voice.esms.redaction import RedactSecretsFilter

    token = "Zm9vYmFyLXRva2VuLXNlbnRpbmVs"
    path = f"/esms-voice/callback/066107ee-6ec4-4283-b595-aa74977c65c5/{token}/"
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s', (f"GET {path}?x=1", 200, 2), None
    )

    assert RedactSecretsFilter().filter(record) is True
    message = record.getMessage()
    assert token not in message
    assert "/callback/066107ee-6ec4-4283-b595-aa74977c65c5/***/?x=1" in message
