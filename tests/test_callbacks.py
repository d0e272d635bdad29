"""The callback view eSMS calls: authentication, storage, the state rule, failures and load."""

from __future__ import annotations

import http.client
import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import OperationalError, connection, connections
from django.http import HttpRequest
from django.test import Client
from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.esms.payloads import MalformedResult, parse_call_result
from django_esms_voice.models import (
    CallbackEvent,
    CallKind,
    EventOutcome,
    EventSource,
    VoiceCall,
    VoiceCallQuerySet,
)
from django_esms_voice.signals import call_status_changed
from django_esms_voice.signing import callback_path, callback_token
from django_esms_voice.states import CallStatus

# The docs' sample callback, byte for byte: a final failure (finished, not sent).
SAMPLE_SMSID = "066107ee-6ec4-4283-b595-aa74977c65c5"
SAMPLE_QUERY = (
    "ReferenceId=066107ee-6ec4-4283-b595-aa74977c65c5&CallDuration=0&CallStatus=&Ivr="
    "&Price=0.0000&SentResult=0&CID=02871002454&SendStatus=5"
)
PHONE = "0901888484"
SECURITY_LOGGER = "django_esms_voice.security"
LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"

# Every token a test put in a URL: none of them may show up in any log record.
_TOKENS: set[str] = set()


# ----------------------------------------------------------------------------- helpers


def make_call(**fields: Any) -> VoiceCall:
    """Create a call eSMS has accepted (status accepted, its own SMSID) unless told otherwise."""
    values: dict[str, Any] = {
        "kind": CallKind.RECORD,
        "template_id": "42",
        "phone": PHONE,
        "status": CallStatus.ACCEPTED,
        "smsid": str(uuid.uuid4()),
    }
    values.update(fields)
    return VoiceCall.objects.create(**values)


def url_for(call_uuid: uuid.UUID | str, token: str | None = None) -> str:
    """Return a call's callback path (its real token unless one is given) and remember the token."""
    if token is None:
        path = callback_path(call_uuid)
        token = path.rstrip("/").rsplit("/", 1)[1]
    else:
        path = f"/esms-voice/callback/{call_uuid}/{token}/"
    if len(token) >= 16:  # a short forged token would match unrelated text by chance
        _TOKENS.add(token)
    return path


def result_query(
    smsid: str,
    *,
    send_status: int | str = 5,
    call_status: str = "",
    duration: int | str = 0,
    ivr: str = "",
    price: str = "0.0000",
    sent_result: int | str = 0,
    cid: str = "02871002454",
) -> str:
    """Return a callback query string in the docs' parameter order."""
    return urlencode(
        [
            ("ReferenceId", smsid),
            ("CallDuration", duration),
            ("CallStatus", call_status),
            ("Ivr", ivr),
            ("Price", price),
            ("SentResult", sent_result),
            ("CID", cid),
            ("SendStatus", send_status),
        ]
    )


def answered(smsid: str, **fields: Any) -> str:
    """Return the final callback of an answered call."""
    values: dict[str, Any] = {"duration": 13, "price": "500.0000"}
    values.update(fields)
    return result_query(smsid, call_status="ANSWERED", sent_result=1, **values)


def no_answer(smsid: str) -> str:
    """Return the final callback of a call nobody picked up."""
    return result_query(smsid, call_status="NO ANSWER", sent_result=1)


def progress(smsid: str) -> str:
    """Return the in-progress callback (SendStatus 7: sent, waiting for the report)."""
    return result_query(smsid, send_status=7, sent_result=1)


def deliver(call: VoiceCall, query: str, client: Client | None = None, **extra: Any) -> Any:
    """Send a callback for a call as eSMS does: a GET with the result in the query string."""
    return (client or Client()).get(f"{url_for(call.uuid)}?{query}", **extra)


def events(call: VoiceCall | None = None) -> list[CallbackEvent]:
    """Return the stored events (of one call), oldest first."""
    queryset = CallbackEvent.objects.order_by("id")
    if call is not None:
        queryset = queryset.filter(call=call)
    return list(queryset)


def snapshot(call: VoiceCall) -> dict[str, Any]:
    """Return every column of a call as stored now."""
    return VoiceCall.objects.filter(pk=call.pk).values().get()


def security_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the records of the security logger."""
    return [r for r in caplog.records if r.name == SECURITY_LOGGER]


def assert_no_token_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Fail if a token some URL of this test carried is in a log record (of the app's side)."""
    # The simulator plays eSMS: what its own threads log is eSMS's business, not the app's.
    records = [
        r
        for phase in ("setup", "call")
        for r in caplog.get_records(phase)  # type: ignore[arg-type]
        if not r.threadName.startswith("esms-sim")
    ]
    texts = [r.getMessage() for r in records]
    texts += [logging.Formatter().format(r) for r in records if r.exc_info]
    leaked = sorted({t for t in _TOKENS for text in texts if t in text})
    assert not leaked, f"a callback token was logged: {[r.getMessage() for r in records]}"


@pytest.fixture(autouse=True)
def _no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at every level; fail if a callback token shows up in one."""
    _TOKENS.clear()
    for name in (None, "django", "django_esms_voice", "urllib3", "django.db.backends"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    assert_no_token_logged(caplog)


@pytest.fixture
def status_changes() -> Iterator[list[dict[str, Any]]]:
    """Collect call_status_changed signals (thread-safe)."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def receiver(**kwargs: Any) -> None:
        with lock:
            received.append(kwargs)

    call_status_changed.connect(receiver, dispatch_uid="test_callbacks")
    yield received
    call_status_changed.disconnect(dispatch_uid="test_callbacks")


# ----------------------------------------------------------------------------- applying


@pytest.mark.django_db
def test_docs_sample_callback_fails_the_call() -> None:
    call = make_call(smsid=SAMPLE_SMSID)

    response = Client().get(f"{url_for(call.uuid)}?{SAMPLE_QUERY}")

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert call.status == CallStatus.FAILED
    assert (call.send_status, call.sent_result, call.duration) == (5, 0, 0)
    assert call.price == Decimal("0.0000")
    assert call.cid == "02871002454"
    assert call.completed_at is not None
    [event] = events(call)
    assert event.raw == SAMPLE_QUERY
    assert event.outcome == EventOutcome.APPLIED
    assert event.source == EventSource.CALLBACK
    assert (event.old_status, event.new_status) == (CallStatus.ACCEPTED, CallStatus.FAILED)
    assert (event.method, event.remote_addr) == ("GET", "127.0.0.1")
    assert event.parsed["reference_id"] == SAMPLE_SMSID
    assert event.parsed["send_status"] == 5
    assert event.fingerprint
    assert event.error == ""


@pytest.mark.django_db
def test_answered_call_stores_the_key_pressed_and_the_price() -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid, ivr="1", duration=27, price="750.5000"))

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert call.call_status == "ANSWERED"
    assert call.ivr_pressed == "1"
    assert call.duration == 27
    assert call.price == Decimal("750.5000")
    assert call.sent_result == 1
    assert call.completed_at is not None


@pytest.mark.django_db
def test_in_progress_then_final(django_capture_on_commit_callbacks: Any, status_changes) -> None:
    call = make_call()

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(call, progress(call.smsid))
    call.refresh_from_db()
    assert first.status_code == 200
    assert (call.status, call.send_status) == (CallStatus.IN_PROGRESS, 7)

    with django_capture_on_commit_callbacks(execute=True):
        second = deliver(call, answered(call.smsid))
    call.refresh_from_db()
    assert second.status_code == 200
    assert (call.status, call.send_status) == (CallStatus.ANSWERED, 5)
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED, EventOutcome.APPLIED]
    assert [(c["old"], c["new"]) for c in status_changes] == [
        (CallStatus.ACCEPTED, CallStatus.IN_PROGRESS),
        (CallStatus.IN_PROGRESS, CallStatus.ANSWERED),
    ]


@pytest.mark.django_db
def test_post_with_a_form_body_works_like_get() -> None:
    call = make_call()
    query = answered(call.smsid, ivr="2")

    response = Client().post(
        url_for(call.uuid), data=query, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    call.refresh_from_db()
    assert (call.status, call.ivr_pressed) == (CallStatus.ANSWERED, "2")
    [event] = events(call)
    assert (event.method, event.raw, event.outcome) == ("POST", query, EventOutcome.APPLIED)


@pytest.mark.django_db
def test_post_with_a_json_body_works_too() -> None:
    call = make_call()
    body = {"ReferenceId": call.smsid, "SendStatus": 5, "CallStatus": "NO ANSWER", "SentResult": 1}

    response = APIClient().post(url_for(call.uuid), body, format="json")

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.NO_ANSWER


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/plain;q=1, */*;q=0"])
def test_any_accept_header_is_answered(accept: str) -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid), HTTP_ACCEPT=accept)

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["json", "xml", "api", ""])
def test_a_format_parameter_is_just_another_field(value: str) -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid) + f"&format={value}")

    assert response.status_code == 200
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "SendStatus=5"),
        ("application/json", "{not json"),
        ("application/json", "[1, 2]"),
        ("application/octet-stream", "\x00\x01"),
    ],
)
def test_a_post_body_that_cannot_be_read_is_stored_as_invalid(content_type: str, body: str):
    call = make_call()
    before = snapshot(call)

    response = Client().post(url_for(call.uuid), data=body, content_type=content_type)

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.INVALID}
    assert snapshot(call) == before
    [event] = events(call)
    assert event.outcome == EventOutcome.INVALID
    assert event.method == "POST"


@pytest.mark.django_db
def test_a_multipart_post_is_stored() -> None:
    call = make_call()

    response = Client().post(url_for(call.uuid), {"SendStatus": "5", "ReferenceId": call.smsid})

    assert response.status_code == 200
    assert CallbackEvent.objects.filter(call=call).count() == 1


# Bodies the view cannot read: nested past Python's recursion limit (a 2 KB body and a
# deeper one), or larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default).
_BIG = 3 * 1024 * 1024
UNREADABLE_BODIES = {
    "JSON nested 1000 deep": ("application/json", "[" * 1000 + "]" * 1000),
    "JSON nested 100000 deep": ("application/json", '{"a":' * 100_000 + "1" + "}" * 100_000),
    "3 MB form": ("application/x-www-form-urlencoded", "SendStatus=5&Note=" + "x" * _BIG),
    "3 MB JSON": ("application/json", '{"SendStatus": 5, "Note": "' + "x" * _BIG + '"}'),
}


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every read of a request's body (request.body, POST and DRF use these).

    A WSGI server may still drain an unread body after the answer (runserver's does), so the
    spy sits on the request, not on the stream.
    """
    reads: list[int] = []
    for name in ("read", "readline"):
        real = getattr(HttpRequest, name)

        def spy(self: HttpRequest, *args: Any, _real: Any = real) -> bytes:
            data: bytes = _real(self, *args)
            reads.append(len(data))
            return data

        monkeypatch.setattr(HttpRequest, name, spy)
    return reads


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(UNREADABLE_BODIES))
def test_a_forged_post_is_refused_before_its_body_is_read(
    caplog, body_reads: list[int], case: str
) -> None:
    call = make_call()
    before = snapshot(call)
    content_type, body = UNREADABLE_BODIES[case]

    response = Client().post(
        url_for(call.uuid, _forged_token(call)), data=body, content_type=content_type
    )

    assert response.status_code == 404
    assert body_reads == []
    assert CallbackEvent.objects.count() == 0
    assert snapshot(call) == before
    assert len(security_warnings(caplog)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(UNREADABLE_BODIES))
def test_an_authentic_post_with_an_unreadable_body_is_stored_as_invalid(settings, case: str):
    call = make_call()
    before = snapshot(call)
    content_type, body = UNREADABLE_BODIES[case]

    response = Client().post(url_for(call.uuid), data=body, content_type=content_type)

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.INVALID}
    assert snapshot(call) == before
    [event] = events(call)
    assert (event.outcome, event.method) == (EventOutcome.INVALID, "POST")
    assert event.raw == body[: services.MAX_RAW_LENGTH]  # as much as the column keeps
    assert event.error
    if len(body) > _BIG:
        assert event.error == (
            f"body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
        )


@pytest.mark.django_db(transaction=True)
def test_a_nested_json_body_through_a_real_server(live_server, body_reads: list[int]) -> None:
    call = make_call()
    body = ("[" * 1000 + "]" * 1000).encode()
    address = urlsplit(live_server.url)

    def post(path: str) -> tuple[int, bytes]:
        server = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            server.request("POST", path, body, {"Content-Type": "application/json"})
            answer = server.getresponse()
            return answer.status, answer.read()
        finally:
            server.close()

    assert post(url_for(call.uuid, _forged_token(call)))[0] == 404
    assert body_reads == []
    assert CallbackEvent.objects.count() == 0
    assert post(url_for(call.uuid)) == (200, b'{"outcome":"invalid"}')
    assert sum(body_reads) == len(body)  # the spy sees the reads of an authentic request
    [event] = events(call)
    assert event.raw == body.decode()


@pytest.mark.django_db
def test_post_is_csrf_exempt() -> None:
    call = make_call()
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        url_for(call.uuid),
        data=answered(call.smsid),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_works_behind_login_required_middleware(settings, method: str) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, LOGIN_REQUIRED]
    call = make_call()
    query = answered(call.smsid)

    if method == "get":
        response = deliver(call, query, Client(enforce_csrf_checks=True))
    else:
        response = Client(enforce_csrf_checks=True).post(
            url_for(call.uuid), data=query, content_type="application/x-www-form-urlencoded"
        )

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


@pytest.mark.django_db(transaction=True)
def test_works_with_atomic_requests(monkeypatch, status_changes) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    call = make_call()

    response = deliver(call, answered(call.smsid))

    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]
    assert [c["new"] for c in status_changes] == [CallStatus.ANSWERED]


# ----------------------------------------------------------------------------- refusing


def _forged_token(call: VoiceCall) -> str:
    """Return a well-formed token that was never signed."""
    real = callback_token(call.uuid)
    return ("A" if real[0] != "A" else "B") + real[1:]


def _other_calls_token(call: VoiceCall) -> str:
    """Return the real token of another call."""
    return callback_token(make_call().uuid)


FORGERIES = {
    "forged token": lambda call: url_for(call.uuid, _forged_token(call)),
    "token of another call": lambda call: url_for(call.uuid, _other_calls_token(call)),
    "empty-looking token": lambda call: url_for(call.uuid, "-" * 43),
    "token over the uuid without dashes": lambda call: url_for(
        call.uuid, callback_token(call.uuid.hex)
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_urls_are_refused_and_nothing_is_stored(caplog, forgery: str) -> None:
    call = make_call()
    before = snapshot(call)
    path = FORGERIES[forgery](call)
    token = path.rstrip("/").rsplit("/", 1)[1]
    caplog.clear()

    response = Client().get(f"{path}?{answered(call.smsid)}")

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0
    assert snapshot(call) == before
    [warning] = security_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert token not in warning.getMessage()


@pytest.mark.django_db
def test_valid_token_of_a_deleted_call_is_refused(caplog) -> None:
    call = make_call()
    path = url_for(call.uuid)
    token = path.rstrip("/").rsplit("/", 1)[1]
    call.delete()
    caplog.clear()

    response = Client().get(f"{path}?{answered(call.smsid)}")

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0
    [warning] = security_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert token not in warning.getMessage()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call_id",
    [
        "not-a-uuid",
        "066107EE-6EC4-4283-B595-AA74977C65C5",  # upper case: the same uuid, spelled otherwise
        "066107ee6ec44283b595aa74977c65c5",  # no dashes
        "066107ee-6ec4-4283-b595-aa74977c65c",  # one digit short
    ],
)
def test_malformed_uuid_is_refused_and_nothing_is_stored(caplog, call_id: str) -> None:
    make_call(smsid=SAMPLE_SMSID)
    token = callback_token(call_id)  # even a validly signed malformed id is refused
    path = url_for(call_id, token)
    caplog.clear()

    response = Client().get(f"{path}?{SAMPLE_QUERY}")

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0
    [warning] = security_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert token not in warning.getMessage()
    assert_no_token_logged(caplog)


# ----------------------------------------------------------------------------- malformed


MALFORMED = {
    "CallDuration=abc": lambda s: result_query(s, duration="abc"),
    "Price=x": lambda s: result_query(s, price="x"),
    "SendStatus=9": lambda s: result_query(s, send_status=9),
    "SendStatus missing": lambda s: result_query(s).replace("&SendStatus=5", ""),
    "SendStatus repeated with different values": lambda s: result_query(s) + "&SendStatus=7",
    "CallStatus repeated with different values": lambda s: answered(s) + "&CallStatus=NO+ANSWER",
    "SentResult=2": lambda s: result_query(s, sent_result=2),
    "negative CallDuration": lambda s: result_query(s, duration=-1),
    "CallDuration beyond 32 bits": lambda s: result_query(s, duration=2**31),
    "Price=NaN": lambda s: result_query(s, price="NaN"),
    "Price=-1": lambda s: result_query(s, price="-1"),
    "Price=1e12": lambda s: result_query(s, price="1e12"),
    "Ivr too long": lambda s: answered(s, ivr="1" * 21),
    "Price that rounds to 10^12": lambda s: result_query(s, price="999999999999.99995"),
    "NUL in Ivr": lambda s: answered(s, ivr="1\x00"),
    "NUL in CID": lambda s: result_query(s, cid="0287\x00"),
    "NUL in ReferenceId": lambda s: result_query(s + "\x00"),
    "empty query": lambda s: "",
    # Only ASCII digits: int() and Decimal() also read other scripts' digits, "+5" and "5_0".
    "SendStatus in Arabic-Indic digits": lambda s: result_query(s, send_status="\u0665"),
    "SendStatus in full-width digits": lambda s: result_query(s, send_status="\uff15"),
    "SentResult in Devanagari digits": lambda s: result_query(s, sent_result="\u0967"),
    "CallDuration in Thai digits": lambda s: result_query(s, duration="\u0e51\u0e53"),
    "CallDuration with a plus sign": lambda s: result_query(s, duration="+13"),
    "CallDuration with an underscore": lambda s: result_query(s, duration="1_3"),
    "Price in Arabic-Indic digits": lambda s: result_query(s, price="\u0665\u0660\u0660"),
    "Price with an underscore": lambda s: result_query(s, price="5_00.0000"),
    # Exponents: PostgreSQL's numeric refuses these two ("value overflows numeric format").
    "Price=1e-16384": lambda s: result_query(s, price="1e-16384"),
    "Price=0E-999999": lambda s: result_query(s, price="0E-999999"),
    "Price in exponent notation": lambda s: result_query(s, price="5E+2"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(MALFORMED))
def test_authentic_but_malformed_is_stored_as_invalid(case: str) -> None:
    call = make_call()
    before = snapshot(call)
    query = MALFORMED[case](call.smsid)

    response = deliver(call, query)

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.INVALID}
    assert snapshot(call) == before
    [event] = events(call)
    assert event.outcome == EventOutcome.INVALID
    assert event.raw == query
    assert event.error
    assert event.parsed == {}
    assert (event.old_status, event.new_status) == (CallStatus.ACCEPTED, CallStatus.ACCEPTED)


@pytest.mark.django_db
def test_spaces_around_a_number_are_tolerated() -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid, duration=" 13 ", price=" 500.0000"))

    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert (call.duration, call.price) == (13, Decimal("500.0000"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "stored"),
    [("0.00004", "0.0000"), ("0.00005", "0.0001"), ("1.23456", "1.2346"), ("0." + "0" * 5000, "0")],
)
def test_a_price_past_the_columns_precision_is_rounded_as_stored(price: str, stored: str) -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid, price=price))

    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert call.price == Decimal(stored)
    [event] = events(call)
    assert Decimal(event.parsed["price"]) == Decimal(stored)  # what was applied, as stored


# A GetSendStatus answer is JSON: its numbers come typed, and must fit their columns too.
STATUS_ANSWER = {"ReferenceId": SAMPLE_SMSID, "SendStatus": 5, "CallStatus": "ANSWERED",
                 "SentResult": 1, "CallDuration": 13}  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [
        {"CallDuration": 1e20},
        {"CallDuration": 2.0**31},
        {"CallDuration": 2**31},
        {"CallDuration": -1},
        {"CallDuration": 13.5},
        {"CallDuration": True},
        {"SendStatus": 5.5},
        {"SendStatus": float("nan")},
        {"SentResult": float("inf")},
        {"Price": 1e12},
        {"Price": -0.5},
        {"Price": float("nan")},
        {"Price": [500]},
    ],
    ids=repr,
)
def test_numbers_of_a_status_answer_outside_their_columns_are_malformed(fields: dict) -> None:
    with pytest.raises(MalformedResult):
        parse_call_result({**STATUS_ANSWER, **fields})


def test_numbers_of_a_status_answer_within_their_columns_are_read() -> None:
    result = parse_call_result({**STATUS_ANSWER, "CallDuration": 13.0, "Price": 500.5})

    assert (result.call_duration, result.price) == (13, Decimal("500.5000"))
    assert type(result.call_duration) is int


@pytest.mark.django_db
def test_unencoded_nul_in_the_query_is_stored_replaced() -> None:
    call = make_call()

    response = Client().get(f"{url_for(call.uuid)}?SendStatus=5&Ivr=\x00")

    assert response.json() == {"outcome": EventOutcome.INVALID}
    [event] = events(call)
    assert event.raw == "SendStatus=5&Ivr=\ufffd"


@pytest.mark.django_db
def test_unencoded_unicode_in_the_query_is_stored_as_sent() -> None:
    call = make_call()
    query = answered(call.smsid) + "&Note=Trần Hưng Đạo"

    Client().get(f"{url_for(call.uuid)}?{query}")

    [event] = events(call)
    assert event.raw == query


@pytest.mark.django_db
def test_an_unexpected_error_answers_500_without_logging_the_url(monkeypatch, caplog) -> None:
    call = make_call()

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "record_result", broken)
    response = deliver(call, answered(call.smsid))

    assert response.status_code == 500
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None


@pytest.mark.django_db
def test_a_wrong_method_is_refused_without_logging_the_url() -> None:
    call = make_call()

    response = Client().put(url_for(call.uuid), data=answered(call.smsid))

    assert response.status_code == 405
    assert CallbackEvent.objects.count() == 0


UNUSED_METHODS = ["options", "head", "put", "patch", "delete", "trace"]


@pytest.mark.django_db
@pytest.mark.parametrize("method", UNUSED_METHODS)
def test_methods_esms_does_not_use_are_refused_and_change_nothing(method: str) -> None:
    call = make_call()
    before = snapshot(call)

    response = getattr(Client(), method)(f"{url_for(call.uuid)}?{answered(call.smsid)}")

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    if method == "head":
        assert response.content == b""
    else:  # what PUT gets: no description of the view
        assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    assert CallbackEvent.objects.count() == 0
    assert snapshot(call) == before


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", *UNUSED_METHODS])
def test_a_forged_url_reveals_no_more_whatever_the_method(caplog, method: str) -> None:
    call = make_call()
    path = f"{url_for(call.uuid, _forged_token(call))}?{answered(call.smsid)}"

    def seen(response: Any) -> tuple[Any, ...]:
        return (response.status_code, response.content, sorted(response.headers.items()))

    as_get = Client().get(path)
    response = getattr(Client(), method)(path)

    assert as_get.status_code == 404
    assert seen(response) == seen(as_get)
    assert CallbackEvent.objects.count() == 0
    assert len(security_warnings(caplog)) == 2


@pytest.mark.django_db
def test_repeated_keys_with_the_same_value_are_accepted() -> None:
    call = make_call()

    response = deliver(call, answered(call.smsid) + "&SendStatus=5")

    assert response.json() == {"outcome": EventOutcome.APPLIED}


@pytest.mark.django_db
def test_more_fields_than_django_allows_are_stored_as_invalid_not_refused(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 20
    call = make_call()
    before = snapshot(call)
    query = answered(call.smsid) + "".join(f"&extra{i}=x" for i in range(20))

    response = deliver(call, query)

    assert response.status_code == 200  # a 400 would make eSMS retry, and lose it in the end
    assert response.json() == {"outcome": EventOutcome.INVALID}
    [event] = events(call)
    assert event.error == "more than 20 parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS)"
    assert event.raw == query
    assert snapshot(call) == before


@pytest.mark.django_db
def test_a_post_form_with_more_fields_than_django_allows_is_stored_as_invalid(settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 20
    call = make_call()
    body = answered(call.smsid) + "".join(f"&extra{i}=x" for i in range(20))

    response = Client().post(
        url_for(call.uuid), data=body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.INVALID}
    [event] = events(call)
    assert event.raw == body


@pytest.mark.django_db
def test_a_result_that_says_nothing_known_is_invalid() -> None:
    call = make_call()
    before = snapshot(call)

    response = deliver(call, result_query(call.smsid, call_status="BUSY", sent_result=1))

    assert response.json() == {"outcome": EventOutcome.INVALID}
    assert snapshot(call) == before


# ----------------------------------------------------------------------------- the state rule


@pytest.mark.django_db
def test_same_callback_twice_is_a_duplicate(django_capture_on_commit_callbacks, status_changes):
    call = make_call()
    query = answered(call.smsid, ivr="3")

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(call, query)
    after_first = snapshot(call)
    with django_capture_on_commit_callbacks(execute=True):
        second = deliver(call, query)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"outcome": EventOutcome.DUPLICATE}
    assert snapshot(call) == after_first
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED, EventOutcome.DUPLICATE]
    assert len(status_changes) == 1


@pytest.mark.django_db
def test_reference_id_of_another_call_is_a_mismatch() -> None:
    call = make_call()
    before = snapshot(call)

    response = deliver(call, answered(str(uuid.uuid4())))

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.MISMATCH}
    assert snapshot(call) == before
    [event] = events(call)
    assert event.outcome == EventOutcome.MISMATCH


@pytest.mark.django_db
def test_reference_id_is_compared_without_case_or_spaces() -> None:
    call = make_call(smsid=SAMPLE_SMSID)

    response = deliver(call, SAMPLE_QUERY.replace(SAMPLE_SMSID, f"{SAMPLE_SMSID.upper()}+"))

    assert response.json() == {"outcome": EventOutcome.APPLIED}


@pytest.mark.django_db
def test_call_accepted_through_124_adopts_the_reference_id() -> None:
    call = make_call(smsid="")

    response = deliver(call, SAMPLE_QUERY)

    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert (call.smsid, call.status) == (SAMPLE_SMSID, CallStatus.FAILED)


@pytest.mark.django_db
def test_in_progress_after_final_is_out_of_order() -> None:
    call = make_call()
    deliver(call, answered(call.smsid))
    after_final = snapshot(call)

    response = deliver(call, progress(call.smsid))

    assert response.status_code == 200
    assert response.json() == {"outcome": EventOutcome.OUT_OF_ORDER}
    current = snapshot(call)
    assert current["status"] == CallStatus.ANSWERED
    assert {k: v for k, v in current.items() if k not in ("event_fingerprints", "updated_at")} == {
        k: v for k, v in after_final.items() if k not in ("event_fingerprints", "updated_at")
    }


@pytest.mark.django_db
def test_no_answer_after_answered_is_a_conflict_and_not_applied() -> None:
    call = make_call()
    deliver(call, answered(call.smsid, ivr="1", duration=20))

    response = deliver(call, no_answer(call.smsid))

    assert response.json() == {"outcome": EventOutcome.CONFLICT}
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert (call.call_status, call.duration, call.ivr_pressed) == ("ANSWERED", 20, "1")
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED, EventOutcome.CONFLICT]
    assert events(call)[-1].new_status == CallStatus.ANSWERED


# ----------------------------------------------------------------------------- database down


@pytest.mark.django_db
def test_database_unavailable_answers_503_so_esms_retries(monkeypatch) -> None:
    call = make_call()

    def unavailable(**kwargs: Any) -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "record_result", unavailable)
    response = deliver(call, answered(call.smsid))

    assert response.status_code == 503
    assert CallbackEvent.objects.count() == 0

    monkeypatch.undo()  # the database is back: eSMS's retry goes through
    retry = deliver(call, answered(call.smsid))
    assert retry.json() == {"outcome": EventOutcome.APPLIED}


@pytest.mark.django_db
def test_database_error_in_the_row_lock_answers_503(monkeypatch) -> None:
    call = make_call()
    before = snapshot(call)

    def unavailable(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(VoiceCallQuerySet, "select_for_update", unavailable)
    response = deliver(call, answered(call.smsid))
    monkeypatch.undo()

    assert response.status_code == 503
    assert CallbackEvent.objects.count() == 0
    assert snapshot(call) == before


# ----------------------------------------------------------------------------- keys and networks


@pytest.mark.django_db
def test_token_signed_with_a_rotated_secret_key_works_while_it_is_a_fallback(settings) -> None:
    settings.SECRET_KEY = "the-old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    call = make_call()
    old_path = url_for(call.uuid)

    settings.SECRET_KEY = "the-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = ["the-old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"]
    assert url_for(call.uuid) != old_path  # new URLs use the new key
    accepted = Client().get(f"{old_path}?{progress(call.smsid)}")

    settings.SECRET_KEY_FALLBACKS = []
    refused = Client().get(f"{old_path}?{answered(call.smsid)}")

    assert accepted.status_code == 200
    assert refused.status_code == 404
    assert [e.outcome for e in events(call)] == [EventOutcome.APPLIED]
    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS


@pytest.fixture
def esms_settings(settings):
    """Change some ESMS_VOICE keys for one test."""

    def change(**values: Any) -> None:
        settings.ESMS_VOICE = {**settings.ESMS_VOICE, **values}

    return change


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote_addr", "allowed"),
    [("203.0.113.9", True), ("203.0.113.254", True), ("198.51.100.7", False), ("::1", False)],
)
def test_allowed_networks(caplog, esms_settings, remote_addr: str, allowed: bool) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"])
    call = make_call()
    caplog.clear()

    response = deliver(call, answered(call.smsid), REMOTE_ADDR=remote_addr)

    if allowed:
        assert response.status_code == 200
        assert [e.remote_addr for e in events(call)] == [remote_addr]
        assert security_warnings(caplog) == []
    else:
        assert response.status_code == 404
        assert CallbackEvent.objects.count() == 0
        [warning] = security_warnings(caplog)
        assert remote_addr in warning.getMessage()


@pytest.mark.django_db
def test_one_proxy_uses_the_address_it_appended(esms_settings) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=1)
    call = make_call()

    response = deliver(
        call,
        answered(call.smsid),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",
    )

    assert response.status_code == 200
    assert [e.remote_addr for e in events(call)] == ["203.0.113.9"]


@pytest.mark.django_db
def test_one_proxy_ignores_what_the_client_put_before(esms_settings) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=1)
    call = make_call()

    response = deliver(
        call,
        answered(call.smsid),
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7",
    )

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_without_proxies_x_forwarded_for_is_ignored(esms_settings) -> None:
    esms_settings(CALLBACK_ALLOWED_NETWORKS=["203.0.113.0/24"], CALLBACK_PROXY_COUNT=0)
    call = make_call()

    spoofed = deliver(
        call, answered(call.smsid), REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )

    assert spoofed.status_code == 404
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_without_a_network_list_the_forwarded_address_is_still_recorded(esms_settings) -> None:
    esms_settings(CALLBACK_PROXY_COUNT=1)
    call = make_call()

    deliver(call, answered(call.smsid), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert [e.remote_addr for e in events(call)] == ["203.0.113.9"]


# ----------------------------------------------------------------------------- query budget


def _bulk_calls(count: int) -> None:
    """Fill the table with other calls, quickly."""
    VoiceCall.objects.bulk_create(
        (
            VoiceCall(
                kind=CallKind.RECORD,
                template_id="42",
                phone=PHONE,
                status=CallStatus.ACCEPTED,
                smsid=str(uuid.uuid4()),
            )
            for _ in range(count)
        ),
        batch_size=2000,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table_size", [10, 10_000])
def test_an_applied_callback_costs_three_queries_whatever_the_table_size(
    django_assert_num_queries, table_size: int, no_prepared_statements: None
) -> None:
    _bulk_calls(table_size)
    first, call = make_call(), make_call()
    query = answered(call.smsid)

    if connection.vendor == "postgresql":
        # One statement in autocommit locks the call, updates it and inserts the event
        # (django_esms_voice/fastpath.py), prepared by the first callback of the session.
        with django_assert_num_queries(2) as captured:
            deliver(first, answered(first.smsid))
        prepare, execute = [q["sql"] for q in captured.captured_queries]
        assert prepare.startswith("PREPARE esms_voice_")
        assert "FOR UPDATE OF t" in prepare
        assert execute.startswith(f"EXECUTE {prepare.split()[1]}(")
        with django_assert_num_queries(1) as captured:
            response = deliver(call, query)
        assert response.json() == {"outcome": EventOutcome.APPLIED}
        [sql] = [q["sql"] for q in captured.captured_queries]
        assert sql.startswith(f"EXECUTE {prepare.split()[1]}(")
    else:
        # Three statements; Django also logs the BEGIN and COMMIT of the view's transaction.
        with django_assert_num_queries(3 + 2) as captured:
            response = deliver(call, query)
        assert response.json() == {"outcome": EventOutcome.APPLIED}
        sqls = [q["sql"] for q in captured.captured_queries]
        assert (sqls[0], sqls[-1]) == ("BEGIN", "COMMIT")
        assert sqls[1].startswith('SELECT "esms_voice_voicecall".')
        assert sqls[2].startswith('UPDATE "esms_voice_voicecall"')
        assert sqls[3].startswith('INSERT INTO "esms_voice_callbackevent"')

    # A duplicate changes nothing; on PostgreSQL the one statement first finds nothing to apply.
    with django_assert_num_queries((connection.vendor == "postgresql") + 2 + 2) as captured:
        duplicate = deliver(call, query)
    assert duplicate.json() == {"outcome": EventOutcome.DUPLICATE}
    assert not any(q["sql"].startswith("UPDATE") for q in captured.captured_queries)

    with django_assert_num_queries(0):  # a forgery is refused before any query
        Client().get(f"{url_for(call.uuid, _forged_token(call))}?{query}")


# ----------------------------------------------------------------------------- concurrency


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_same_callback_five_times_at_once_is_applied_once(require_postgres, status_changes):
    call = make_call()
    path = f"{url_for(call.uuid)}?{answered(call.smsid)}"
    barrier = threading.Barrier(5)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.get(path)
            with lock:
                outcomes.append(response.json()["outcome"])
        except BaseException as exc:  # reported below, not lost in the thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert sorted(outcomes) == [EventOutcome.APPLIED] + [EventOutcome.DUPLICATE] * 4
    assert sorted(e.outcome for e in events(call)) == sorted(outcomes)
    assert [(c["old"], c["new"]) for c in status_changes] == [
        (CallStatus.ACCEPTED, CallStatus.ANSWERED)
    ]
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


# ----------------------------------------------------------------------------- fuzzing

KNOWN_KEYS = ["ReferenceId", "CallDuration", "CallStatus", "Ivr", "Price", "SentResult", "CID"]
KNOWN_KEYS += ["SendStatus"]
_chars = st.characters(codec="utf-8")  # what HTTP can carry: no lone surrogates
_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(_chars, max_size=20))
_values = st.one_of(
    st.text(_chars, max_size=60),
    st.text(alphabet=st.sampled_from("\x00\x01\n\r\t %&=+#?/\\'\"5ANSWERED"), max_size=30),
    st.sampled_from(["", "2", "5", "7", "0", "1", "ANSWERED", "NO ANSWER", "NOANSWERED", " 5 "]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["9" * 5000, "1e999999999", "-0", "0.00001", "999999999999.99995"]),
    st.builds(lambda char, size: char * size, _chars, st.integers(1000, 10_240)),
)
_pairs = st.one_of(
    st.lists(st.tuples(_keys, _values), max_size=12),
    st.dictionaries(_keys, _values, max_size=12).map(lambda d: list(d.items())),
)


_DELIMITERS = str.maketrans({"%": "%25", "&": "%26", "=": "%3D", "#": "%23", "+": "%2B"})


def _query(pairs: list[tuple[str, str]], raw: bool) -> str:
    """Encode pairs as a query string; raw leaves all but the delimiters unencoded."""
    if not raw:
        return urlencode(pairs)
    return "&".join(f"{k.translate(_DELIMITERS)}={v.translate(_DELIMITERS)}" for k, v in pairs)


@pytest.fixture
def answered_call(db) -> VoiceCall:
    """A call that ended answered."""
    call = make_call()
    deliver(call, answered(call.smsid, ivr="1", duration=20, price="500.0000"))
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    return call


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(pairs=_pairs, raw=st.booleans(), with_reference=st.booleans())
@example(pairs=[("Ivr", "1\x00"), ("SendStatus", "5"), ("CallStatus", "ANSWERED")], raw=False,
         with_reference=True)  # fmt: skip
@example(pairs=[("CID", "\x00"), ("SendStatus", "7")], raw=False, with_reference=False)
@example(pairs=[("ReferenceId", "x\x00"), ("SendStatus", "5")], raw=False, with_reference=False)
@example(pairs=[("Ivr", "\x00"), ("SendStatus", "5")], raw=True, with_reference=False)
@example(pairs=[("format", "xml"), ("SendStatus", "5")], raw=False, with_reference=False)
@example(
    pairs=[("Price", "999999999999.99995"), ("SendStatus", "5"), ("CallStatus", "ANSWERED")],
    raw=False,
    with_reference=True,
)
@example(pairs=[("Price", "1e-16384"), ("SendStatus", "5")], raw=False, with_reference=True)
@example(pairs=[("SendStatus", "\u0665"), ("CallStatus", "NO ANSWER")], raw=False,
         with_reference=True)  # fmt: skip
def test_fuzzed_authentic_callbacks_never_fail_and_never_undo_answered(
    answered_call: VoiceCall, pairs: list[tuple[str, str]], raw: bool, with_reference: bool
) -> None:
    call = answered_call
    VoiceCall.objects.filter(pk=call.pk).update(event_fingerprints=[])
    if with_reference:
        pairs = [("ReferenceId", call.smsid), *pairs]
    query = _query(pairs, raw)
    count = CallbackEvent.objects.count()

    response = Client().get(f"{url_for(call.uuid)}?{query}")

    assert response.status_code == 200
    assert response.json()["outcome"] in EventOutcome.values
    assert CallbackEvent.objects.count() == count + 1
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert call.call_status == "ANSWERED"


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.~",
        min_size=1,
        max_size=80,
    ),
    pairs=_pairs,
)
def test_fuzzed_forged_callbacks_are_refused(
    answered_call: VoiceCall, token: str, pairs: list[tuple[str, str]]
) -> None:
    before = snapshot(answered_call)
    count = CallbackEvent.objects.count()

    response = Client().get(f"{url_for(answered_call.uuid, token)}?{urlencode(pairs)}")

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == count
    assert snapshot(answered_call) == before


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def simulator() -> Iterator[EsmsSimulator]:
    """Play eSMS on loopback, with fast callbacks."""
    with EsmsSimulator(callback_delay=0.1, callback_retry_delay=0.1, stall_seconds=1.0) as sim:
        yield sim


@pytest.fixture
def through_simulator(live_server, simulator, esms_settings) -> EsmsSimulator:
    """Send calls to the simulator, with callback URLs pointing at the live server."""
    esms_settings(
        BASE_URL=simulator.base_url,
        BALANCE_URL=simulator.balance_url,
        CALLBACK_BASE_URL=live_server.url,
    )
    return simulator


E2E = {
    "answered": (Script(outcome=Outcome.answered(ivr="1")), 1, CallStatus.ANSWERED,
                 [EventOutcome.APPLIED]),
    "no_answer": (Script(outcome=Outcome.no_answer()), 1, CallStatus.NO_ANSWER,
                  [EventOutcome.APPLIED]),
    "failed": (Script(outcome=Outcome.failed()), 1, CallStatus.FAILED, [EventOutcome.APPLIED]),
    "duplicate": (Script(callbacks="duplicate"), 2, CallStatus.ANSWERED,
                  [EventOutcome.APPLIED, EventOutcome.DUPLICATE]),
    "out_of_order": (Script(callbacks="out_of_order"), 2, CallStatus.ANSWERED,
                     [EventOutcome.APPLIED, EventOutcome.OUT_OF_ORDER]),
    "progress_out_of_order": (Script(callbacks="out_of_order", progress_callback=True), 3,
                     CallStatus.ANSWERED,
                     # the late in-progress repeats the first one word for word: a duplicate
                     [EventOutcome.APPLIED, EventOutcome.APPLIED, EventOutcome.DUPLICATE]),
    "progress": (Script(outcome=Outcome.no_answer(), progress_callback=True), 2,
                 CallStatus.NO_ANSWER, [EventOutcome.APPLIED, EventOutcome.APPLIED]),
}  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(E2E))
def test_end_to_end_through_the_simulator(through_simulator: EsmsSimulator, case: str) -> None:
    script, callbacks, final, outcomes = E2E[case]
    through_simulator.default = script
    call = services.create_call(enqueue=False, phone=PHONE, template_id="42")
    url_for(call.uuid)  # remember the token, so the log check looks for it

    placed = services.place_call(call.pk)

    assert placed.status == CallStatus.ACCEPTED
    assert through_simulator.wait_for_callbacks(callbacks, timeout=15)
    call.refresh_from_db()
    assert call.status == final
    simulated = through_simulator.find_call(call.smsid)
    assert simulated is not None
    assert [e.outcome for e in events(call)] == outcomes
    assert all(d.ok for d in through_simulator.callback_deliveries)
    if final == CallStatus.ANSWERED:
        assert call.ivr_pressed == simulated.outcome.ivr
        assert call.duration == simulated.outcome.duration
    assert call.price == Decimal(simulated.outcome.price)


@pytest.mark.django_db(transaction=True)
def test_placing_a_call_does_not_log_its_callback_token(
    live_server, simulator, esms_settings, caplog
) -> None:
    esms_settings(
        BASE_URL=simulator.base_url,
        BALANCE_URL=simulator.balance_url,
        CALLBACK_BASE_URL=live_server.url,
    )
    call = services.create_call(enqueue=False, phone=PHONE, template_id="42")
    url_for(call.uuid)

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert simulator.wait_for_callbacks(1, timeout=15)
    assert_no_token_logged(caplog)
