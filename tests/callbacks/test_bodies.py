"""POSTed callbacks: form and JSON bodies, and bodies the view cannot or must not read."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.models import (
    CallbackEvent,
    EventOutcome,
)
from django_esms_voice.states import CallStatus

from .helpers import (
    answered,
    events,
    forged_token,
    make_call,
    security_warnings,
    snapshot,
    url_for,
)


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


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(UNREADABLE_BODIES))
def test_a_forged_post_is_refused_before_its_body_is_read(
    caplog, body_reads: list[int], case: str
) -> None:
    call = make_call()
    before = snapshot(call)
    content_type, body = UNREADABLE_BODIES[case]

    response = Client().post(
        url_for(call.uuid, forged_token(call)), data=body, content_type=content_type
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

    assert post(url_for(call.uuid, forged_token(call)))[0] == 404
    assert body_reads == []
    assert CallbackEvent.objects.count() == 0
    assert post(url_for(call.uuid)) == (200, b'{"outcome":"invalid"}')
    assert sum(body_reads) == len(body)  # the spy sees the reads of an authentic request
    [event] = events(call)
    assert event.raw == body.decode()


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
