"""The ApiKey and SecretKey never show up in errors, reprs, check messages or log records.

The voice endpoints are GET-only, so the credentials travel in the query string: every error
path and every logger that prints a URL is a way for them to leak. The client talks to a
small HTTP server on loopback that answers whatever each test asks, including bodies that
echo the credentials back.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
from django.contrib import admin
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.conf import voice_settings
from django_esms_voice.esms.client import EsmsVoiceClient
from django_esms_voice.esms.payloads import (
    RecordCallRequest,
    TemplateCallRequest,
    parse_call_result,
)
from django_esms_voice.esms.redaction import MASK, redact
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
from django_esms_voice.models import CallbackEvent, EventSource, VoiceCall
from django_esms_voice.signing import callback_token, callback_url

API_KEY = "APIKEY-SENTINEL-123"
SECRET_KEY = "SECRET-SENTINEL-456"
SECRETS = (API_KEY, SECRET_KEY)
WINDOW = 8  # a leak of any 8 consecutive characters of a secret counts as a leak


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Return the pieces of the secrets found in text (truncation must not leak a prefix)."""
    return [
        secret[i : i + WINDOW]
        for secret in secrets
        for i in range(len(secret) - WINDOW + 1)
        if secret[i : i + WINDOW] in text
    ]


# A loopback server with scripted answers


@dataclass
class Answer:
    status: int = 200
    body: bytes | Callable[[str], bytes] = b"{}"
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EchoServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        self.server.seen.append(Seen(self.command, split.path, dict(parse_qsl(split.query)), body))
        answer = self.server.answer
        if answer.delay and self.server.stopping.wait(answer.delay):
            self.close_connection = True
            return
        payload = answer.body(self.path) if callable(answer.body) else answer.body
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = Answer()
        self.seen: list[Seen] = []
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/MainService.svc/json/"


@pytest.fixture
def server() -> Iterator[_EchoServer]:
    srv = _EchoServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def client(server: _EchoServer) -> Iterator[EsmsVoiceClient]:
    sentinel_client = EsmsVoiceClient(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        base_url=server.base_url,
        balance_url=server.base_url,
        timeout=(1.0, 0.4),
    )
    yield sentinel_client
    sentinel_client.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every record at DEBUG, urllib3's request lines included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


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


def all_text_of(error: BaseException) -> str:
    """Everything a user, a log handler or an error tracker can see of an exception."""
    parts = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(error)),
    ]
    # Attributes are stored in the database (last error) and shown in the admin.
    parts.extend(f"{name}={value!r}" for name, value in vars(error).items())
    cause: BaseException | None = error
    while cause is not None:
        parts.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the log checks would prove nothing"
    for record in caplog.records:
        message = record.getMessage()
        assert not leaked(message), (record.name, message)
        assert not leaked(repr(record.args)), (record.name, record.args)
    assert not leaked(caplog.text)


def urllib3_request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("urllib3") and "MainService.svc/json/" in record.getMessage()
    ]


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


# The callback token: the URL is the credential, so no record may keep it, whatever its encoding

# This module is also the URLconf of the tests below: the admin, the callback and the API.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("esms-voice/", include("django_esms_voice.urls")),
    path("api/esms-voice/", include("django_esms_voice.api_urls")),
]
PHONE = "0901888484"
CALLBACK_BASE = "https://voice.example.test"
TOKEN = "TOKEN-SENTINEL-0123456789_abcdefghijkl"  # token-shaped: URL-safe base64


def token_leaks(text: str, token: str) -> list[str]:
    """Return the pieces of the token in text, read raw and after undoing every encoding."""
    decoded = text
    for _round in range(3):  # double-encoded, then HTML-escaped, then JSON-escaped
        decoded = html.unescape(unquote(decoded)).replace("\\/", "/")
    return [
        token[i : i + WINDOW]
        for i in range(len(token) - WINDOW + 1)
        if token[i : i + WINDOW] in text or token[i : i + WINDOW] in decoded
    ]


def echoed_url(path: str) -> str:
    """The CallbackUrl the app sent, read back from the request the echo server received."""
    return dict(parse_qsl(urlsplit(path).query))["CallbackUrl"]


def echoed_path(path: str) -> str:
    """The path of the CallbackUrl: what an HTTP error page echoes (the body preview is short)."""
    return urlsplit(echoed_url(path)).path


def refusal(message: Callable[[str], str]) -> Answer:
    """A refusal (code 999) whose ErrorMessage echoes the callback URL as message() writes it."""
    return Answer(
        body=lambda path: json.dumps(
            {"CodeResult": "999", "ErrorMessage": message(echoed_url(path))}
        ).encode()
    )


def url_token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def lower_escapes(text: str) -> str:
    """Write the percent-escapes in lower case (%2f), as some encoders do; the rest unchanged."""
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), text)


def every_char_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


# How a provider's error can echo the URL. The rejected ones are stored as eSMS's refusal; the
# HTTP 500 ones as a transport failure to retry (the JSON one as .NET's WCF writes it, \/).
ECHOES = [
    pytest.param(refusal(lambda url: f"unreachable: callback {url}"), id="raw"),
    pytest.param(
        Answer(
            status=500,
            body=lambda path: (
                '{"Message":"unreachable: ' + echoed_path(path).replace("/", "\\/") + '"}'
            ).encode(),
        ),
        id="json-escaped-http-500",
    ),
    pytest.param(
        refusal(lambda url: "unreachable: " + json.dumps({"url": url}).replace("/", "\\/")),
        id="json-escaped-in-message",
    ),
    pytest.param(refusal(lambda url: f"unreachable: callback {quote(url, safe='')}"), id="%2F"),
    pytest.param(
        refusal(lambda url: f"unreachable: callback {lower_escapes(quote(url, safe=''))}"), id="%2f"
    ),
    pytest.param(
        refusal(lambda url: f"unreachable: callback {quote(quote(url, safe=''), safe='')}"),
        id="double-encoded",
    ),
    pytest.param(
        Answer(
            status=500,
            content_type="text/html",
            body=lambda path: (
                "<p>unreachable: " + echoed_path(path).replace("/", "&#x2F;") + "</p>"
            ).encode(),
        ),
        id="html-escaped-http-500",
    ),
    pytest.param(
        refusal(lambda url: f"unreachable: signature {url_token(url)}"), id="token-without-url"
    ),
    pytest.param(
        refusal(lambda url: f"unreachable: signature {every_char_encoded(url_token(url))}"),
        id="token-every-char-encoded",
    ),
]


@pytest.fixture
def http_to_echo_server(server: _EchoServer, settings: Any) -> _EchoServer:
    """Send calls over HTTP to the echo server, with callback URLs."""
    settings.ESMS_VOICE = {
        "API_KEY": API_KEY,
        "SECRET_KEY": SECRET_KEY,
        "BASE_URL": server.base_url,
        "BALANCE_URL": server.base_url,
        "CALLBACK_BASE_URL": CALLBACK_BASE,
        "TIMEOUT": (1.0, 0.4),
    }
    return server


@pytest.mark.django_db
@pytest.mark.urls("tests.test_secrets")
@pytest.mark.parametrize("answer", ECHOES)
def test_an_echoed_callback_url_is_stored_and_shown_masked(
    http_to_echo_server: _EchoServer, answer: Answer, admin_client: Client, admin_user: Any
) -> None:
    http_to_echo_server.answer = answer
    with pytest.raises(CommandError) as caught:
        call_command(
            "esms_voice_call", PHONE, "--template-id", "7821", "--sync", stdout=io.StringIO()
        )
    call = VoiceCall.objects.get()
    token = callback_token(call.uuid)
    # The URL with the token did go out, so its absence below means something.
    assert http_to_echo_server.seen[0].params["CallbackUrl"].endswith(f"/{token}/")
    assert "unreachable" in call.last_error_message, call.last_error_message
    assert MASK in call.last_error_message
    assert not token_leaks(call.last_error_message, token), call.last_error_message

    output = str(caught.value)
    assert "unreachable" in output
    assert not token_leaks(output, token), output

    page = admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
    assert page.status_code == 200
    assert "unreachable" in page.content.decode()
    assert not token_leaks(page.content.decode(), token)

    api = APIClient()
    api.force_authenticate(admin_user)
    answer_json = api.get(f"/api/esms-voice/calls/{call.uuid}/")
    assert answer_json.status_code == 200
    assert "unreachable" in answer_json.json()["last_error_message"]
    assert not token_leaks(answer_json.content.decode(), token)


@pytest.mark.django_db
def test_an_event_error_naming_the_token_is_stored_masked(settings: Any) -> None:
    settings.ESMS_VOICE = {"CALLBACK_BASE_URL": CALLBACK_BASE, "BACKEND": LOCMEM_BACKEND}
    call = services.create_call(phone=PHONE, template_id="7821", enqueue=False)
    token = callback_token(call.uuid)
    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.CALLBACK,
        raw="ReferenceId=x",
        result=None,
        error=f"unreadable: callback%2F{call.uuid}%2F{token}%2F",
    )
    assert event is not None
    stored = CallbackEvent.objects.get(pk=event.pk).error
    assert stored.startswith("unreadable: callback")
    assert not token_leaks(stored, token), stored


@pytest.mark.django_db
def test_a_failure_naming_the_token_is_stored_masked(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ESMS_VOICE = {"CALLBACK_BASE_URL": CALLBACK_BASE, "BACKEND": LOCMEM_BACKEND}
    call = services.create_call(phone=PHONE, template_id="7821", enqueue=False)
    VoiceCall.objects.filter(pk=call.pk).update(status="accepted", smsid="SMS-1")
    token = callback_token(call.uuid)

    def judge(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"cannot judge {quote(str(callback_url(call.uuid)), safe='')}")

    monkeypatch.setattr(services, "_judge", judge)
    monkeypatch.setattr(services, "_apply_fast", lambda event, result: False)
    result = parse_call_result(
        {"ReferenceId": "SMS-1", "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
    )
    with pytest.raises(ValueError, match="cannot judge"):
        services.record_result(
            call_uuid=call.uuid, source=EventSource.CALLBACK, raw="ReferenceId=SMS-1", result=result
        )
    stored = CallbackEvent.objects.get(call=call).error
    assert stored.startswith("ValueError: cannot judge")
    assert not token_leaks(stored, token), stored


@pytest.mark.django_db
def test_a_poll_answer_echoing_the_url_is_stored_masked(
    http_to_echo_server: _EchoServer,
) -> None:
    call = services.create_call(phone=PHONE, template_id="7821", enqueue=False)
    VoiceCall.objects.filter(pk=call.pk).update(status="accepted", smsid="SMS-1")
    call.refresh_from_db()
    url = str(callback_url(call.uuid))
    token = callback_token(call.uuid)
    http_to_echo_server.answer = Answer(
        body=json.dumps(
            {
                "CodeResponse": "100",
                "ReferenceId": "SMS-1",
                "SendStatus": 5,
                "CallStatus": "ANSWERED",
                "SentResult": 1,
                "Note": f"callback {quote(url, safe='')}",
            }
        ).encode()
    )
    event = services.refresh_status(call)
    assert event is not None
    raw = CallbackEvent.objects.get(pk=event.pk).raw
    assert "Note" in raw
    assert not token_leaks(raw, token), raw


def test_call_request_reprs_hide_the_callback_token() -> None:
    url = f"{CALLBACK_BASE}/esms-voice/callback/066107ee-6ec4-4283-b595-aa74977c65c5/{TOKEN}/"
    requests_with_url = [
        RecordCallRequest(phone=PHONE, template_id="7821", callback_url=url),
        TemplateCallRequest(phone=PHONE, template_id="7821", variables=["a"], callback_url=url),
    ]
    for request in requests_with_url:
        assert request.callback_url == url  # still sent: only hidden from reprs
        assert request.to_params()["CallbackUrl"] == url
        assert not leaked(repr(request), (TOKEN,)), repr(request)
        assert not leaked(str(request), (TOKEN,))
        assert not leaked(repr([request]), (TOKEN,))  # e.g. the locmem outbox in an assertion
        assert "7821" in repr(request)


def test_the_client_never_shows_the_callback_token(server, client, debug_logs) -> None:
    url = f"{CALLBACK_BASE}/esms-voice/callback/066107ee-6ec4-4283-b595-aa74977c65c5/{TOKEN}/"
    server.answer = Answer(
        body=lambda path: json.dumps({"CodeResult": "999", "ErrorMessage": path}).encode()
    )
    request = RecordCallRequest(phone=PHONE, template_id="7821", callback_url=url)
    with pytest.raises(EsmsRejected) as caught:
        client.make_record_call(request)
    assert server.seen[0].params["CallbackUrl"] == url
    assert not leaked(all_text_of(caught.value), (TOKEN,)), all_text_of(caught.value)
    assert urllib3_request_lines(debug_logs)
    for record in debug_logs.records:
        assert not leaked(record.getMessage(), (TOKEN,)), record.getMessage()


UNKNOWN_CALL = "066107ee-6ec4-4283-b595-aa74977c65c5"
URL = f"{CALLBACK_BASE}/esms-voice/callback/{UNKNOWN_CALL}/{TOKEN}/"


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(URL, id="raw"),
        pytest.param(URL.replace("/", "\\/"), id="json-escaped"),
        pytest.param(URL.replace("/", "\\u002f"), id="json-unicode-escaped"),
        pytest.param(quote(URL, safe=""), id="%2F"),
        pytest.param(lower_escapes(quote(URL, safe="")), id="%2f"),
        pytest.param(quote(quote(URL, safe=""), safe=""), id="double-encoded"),
        pytest.param(URL.replace("/", "&#x2F;"), id="html-hex"),
        pytest.param(URL.replace("/", "&#47;"), id="html-decimal"),
        pytest.param(URL.replace("/esms-voice/", "//esms-voice/"), id="double-slash"),
        pytest.param(URL.replace(TOKEN, f"/{TOKEN}//junk"), id="slashes-and-junk"),
        pytest.param(URL.upper().replace(TOKEN.upper(), TOKEN), id="upper-case-prefix"),
    ],
)
def test_a_callback_url_of_an_unknown_call_is_masked_in_every_encoding(echo: str) -> None:
    """Without the call (a log line, say), the shape callback/<uuid>/<token> gives it away."""
    text = f"eSMS said: {echo} is unreachable"
    cleaned = redact(text)
    assert not leaked(cleaned, (TOKEN,)), cleaned
    assert MASK in cleaned
    assert cleaned.endswith(" is unreachable")
    assert UNKNOWN_CALL in cleaned.lower()  # the call stays identifiable
