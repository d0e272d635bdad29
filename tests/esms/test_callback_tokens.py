"""The callback token: the URL is the credential, so no record may keep it, whatever its encoding.

A provider's error, an event's error and a poll's answer can all echo the callback URL: each
is stored and shown (admin, API, command output) with the token masked.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.esms.payloads import (
    RecordCallRequest,
    TemplateCallRequest,
    parse_call_result,
)
from django_esms_voice.esms.redaction import MASK, redact
from django_esms_voice.exceptions import (
    EsmsRejected,
)
from django_esms_voice.models import CallbackEvent, EventSource, VoiceCall
from django_esms_voice.services import results
from django_esms_voice.signing import callback_token, callback_url

from .echo import (
    API_KEY,
    SECRET_KEY,
    WINDOW,
    Answer,
    EchoServer,
    all_text_of,
    leaked,
    urllib3_request_lines,
)

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
def http_to_echo_server(server: EchoServer, settings: Any) -> EchoServer:
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
@pytest.mark.urls("tests.esms.test_callback_tokens")
@pytest.mark.parametrize("answer", ECHOES)
def test_an_echoed_callback_url_is_stored_and_shown_masked(
    http_to_echo_server: EchoServer, answer: Answer, admin_client: Client, admin_user: Any
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

    monkeypatch.setattr(results, "judge", judge)
    monkeypatch.setattr(results, "_apply_fast", lambda event, result: False)
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
    http_to_echo_server: EchoServer,
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
