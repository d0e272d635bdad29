"""Applying authentic callbacks: the event, the call's columns, malformed values, the state rule."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from django_esms_voice.esms.payloads import MalformedResult, parse_call_result
from django_esms_voice.models import (
    EventOutcome,
    EventSource,
)
from django_esms_voice.states import CallStatus

from .helpers import (
    SAMPLE_QUERY,
    SAMPLE_SMSID,
    answered,
    deliver,
    events,
    make_call,
    no_answer,
    progress,
    result_query,
    snapshot,
    url_for,
)


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
def test_a_result_that_says_nothing_known_is_invalid() -> None:
    call = make_call()
    before = snapshot(call)

    response = deliver(call, result_query(call.smsid, call_status="BUSY", sent_result=1))

    assert response.json() == {"outcome": EventOutcome.INVALID}
    assert snapshot(call) == before


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
