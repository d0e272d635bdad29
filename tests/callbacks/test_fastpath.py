"""The PostgreSQL fast path of record_result: the same rows and outcomes as the general path."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import DataError, OperationalError, connection, connections
from django.test import Client

from django_esms_voice import services
from django_esms_voice.esms import payloads
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.models import CallbackEvent, CallKind, EventOutcome, EventSource, VoiceCall
from django_esms_voice.services.pg import fastpath
from django_esms_voice.signals import call_status_changed, callback_received
from django_esms_voice.signing import callback_path
from django_esms_voice.states import CallStatus

from .helpers import prepared_statements

SMSID = "066107ee-6ec4-4283-b595-aa74977c65c5"
OTHER_SMSID = "11111111-2222-3333-4444-555555555555"
CID = "02871002454"

# What eSMS sends (SendStatus 2 and 7: on its way; 5: finished), as query fields.
DELIVERIES: dict[str, dict[str, str]] = {
    "waiting": {"SendStatus": "2", "SentResult": "", "CallDuration": "", "Price": ""},
    "progress": {"SendStatus": "7", "SentResult": "1", "CallDuration": "0", "Price": "0.0000"},
    "answered": {
        "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1", "CallDuration": "13",
        "Ivr": "1", "Price": "500.0000",
    },
    "answered, no price yet": {
        "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1", "CallDuration": "13",
        "Price": "",
    },
    "no answer": {"SendStatus": "5", "CallStatus": "NO ANSWER", "SentResult": "1"},
    "failed": {"SendStatus": "5", "CallStatus": "", "SentResult": "0", "Price": "0.0000"},
    "says nothing known": {"SendStatus": "5", "CallStatus": "", "SentResult": "1"},
}  # fmt: skip
# How the delivery spells its ReferenceId, for a call whose SMSID is SMSID.
REFERENCES = {
    "same": SMSID,
    "upper case": SMSID.upper(),
    "padded": f" {SMSID} ",
    "none": "",
    "another call's": OTHER_SMSID,
}
# The call's SMSID: as eSMS answered it, upper case, or none yet (accepted through 124).
CALL_SMSIDS = {"lower": SMSID, "upper": SMSID.upper(), "none": ""}


def _fields(delivery: str, reference: str) -> dict[str, str]:
    return {"ReferenceId": reference, "CID": CID, **DELIVERIES[delivery]}


def _fingerprint(delivery: str, reference: str) -> str:
    return services.result_fingerprint(parse_call_result(_fields(delivery, reference)))


def _prior_fingerprints(kind: str, delivery: str, reference: str) -> Any:
    """The call's fingerprints before the delivery: none, this very one, a full list, junk."""
    if kind == "none":
        return []
    if kind == "this one":
        return ["0" * 32, _fingerprint(delivery, reference)]
    if kind == "full":
        return [f"{i:032x}" for i in range(services.FINGERPRINTS_KEPT)]
    return {"not": "a list"}  # a hand-edited row: the general path copes, the fast one defers


FINGERPRINT_KINDS = ("none", "this one", "full", "not a list")


def _make_call(status: str, smsid: str, fingerprints: Any) -> VoiceCall:
    return VoiceCall.objects.create(
        kind=CallKind.RECORD,
        template_id="42",
        phone="0901888484",
        status=status,
        smsid=smsid,
        event_fingerprints=fingerprints,
        call_status="ANSWERED" if status == CallStatus.ANSWERED else "",
        duration=20 if status == CallStatus.ANSWERED else None,
        price=Decimal("400") if status == CallStatus.ANSWERED else None,
    )


def _row(call: VoiceCall, before: dict[str, Any]) -> dict[str, Any]:
    """The call's columns now, timestamps reduced to whether they changed."""
    row = VoiceCall.objects.filter(pk=call.pk).values().get()
    for name in ("id", "uuid", "created_at"):
        del row[name]
    for name in ("updated_at", "completed_at", "submitted_at"):
        row[name] = "changed" if row[name] != before[name] else "kept"
    return row


def _event_row(event: CallbackEvent) -> dict[str, Any]:
    row = CallbackEvent.objects.filter(pk=event.pk).values().get()
    for name in ("id", "call_id", "received_at"):
        del row[name]
    return row


@pytest.fixture
def signals() -> Iterator[dict[str, list[Any]]]:
    """Collect both signals (thread-safe); a status receiver makes the fast path return rows."""
    received: dict[str, list[Any]] = {"changed": [], "received": []}
    lock = threading.Lock()

    def changed(**kwargs: Any) -> None:
        with lock:
            received["changed"].append(kwargs)

    def stored(**kwargs: Any) -> None:
        with lock:
            received["received"].append(kwargs["event"])

    call_status_changed.connect(changed, dispatch_uid="test_callback_fastpath")
    callback_received.connect(stored, dispatch_uid="test_callback_fastpath")
    yield received
    call_status_changed.disconnect(dispatch_uid="test_callback_fastpath")
    callback_received.disconnect(dispatch_uid="test_callback_fastpath")


@pytest.fixture
def fast_applied(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each fast-path attempt, whether it applied the result."""
    attempts: list[bool] = []
    real = fastpath.apply_advance

    def spy(**kwargs: Any) -> Any:
        done = real(**kwargs)
        attempts.append(done is not None)
        return done

    monkeypatch.setattr(fastpath, "apply_advance", spy)
    return attempts


def _apply(call: VoiceCall, fields: dict[str, str]) -> CallbackEvent | None:
    """Deliver a callback's fields through record_result."""
    return services.record_result(
        call_uuid=str(call.uuid),
        source=EventSource.CALLBACK,
        raw=urlencode(fields),
        result=parse_call_result(fields),
        remote_addr="127.0.0.1",
        method="GET",
    )


# ----------------------------------------------------------------------------- parity


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", CallStatus.values)
@pytest.mark.parametrize("with_receivers", [False, True], ids=["no receiver", "receivers"])
def test_both_paths_leave_the_same_rows_and_outcomes(
    require_postgres: Any,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    fast_applied: list[bool],
    status: str,
    with_receivers: bool,
) -> None:
    assert fastpath.usable(connection)
    received = request.getfixturevalue("signals") if with_receivers else None
    # Each pair gets one kind of prior fingerprints; the kind turns with the status and the
    # receivers, so that every pair meets every kind across the parametrized runs.
    offset = 2 * CallStatus.values.index(status) + with_receivers
    kinds = itertools.islice(itertools.cycle(FINGERPRINT_KINDS), offset, None)
    cases = itertools.product(DELIVERIES, REFERENCES.items(), CALL_SMSIDS.items())
    for delivery, (ref_name, reference), (smsid_name, smsid) in cases:
        if reference == SMSID:
            reference = smsid or SMSID  # "same": spelt as the call has it
        fields = _fields(delivery, reference)
        kind = next(kinds)
        prior = _prior_fingerprints(kind, delivery, reference)
        case = f"{status} + {delivery}, reference {ref_name}, call smsid {smsid_name}, {prior}"
        outcomes, rows, changes, took = [], [], [], []
        for fast in (False, True):
            call = _make_call(status, smsid, prior)
            before = VoiceCall.objects.filter(pk=call.pk).values().get()
            if received is not None:
                received["changed"].clear()
            fast_applied.clear()
            with monkeypatch.context() as patch:
                if not fast:
                    patch.setattr(fastpath, "usable", lambda conn: False)
                event = _apply(call, fields)
            assert event is not None, case
            assert event.pk, case
            outcomes.append((event.outcome, event.old_status, event.new_status))
            rows.append((_row(call, before), _event_row(event)))
            took.append(any(fast_applied))
            if received is not None:
                changes.append(
                    [(c["old"], c["new"], c["event"].pk == event.pk) for c in received["changed"]]
                )
                for change in received["changed"]:
                    # The call a receiver gets is the whole row as stored (no deferred field).
                    assert change["call"].get_deferred_fields() == set(), case
                    stored = VoiceCall.objects.filter(pk=call.pk).values().get()
                    assert {f: getattr(change["call"], f) for f in stored} == stored, case
        assert outcomes[0] == outcomes[1], case
        assert rows[0] == rows[1], case
        assert changes[:1] == changes[1:], case
        # The fast path took every applied result of the table (but for fingerprints that
        # are not a list), and nothing else.
        vouched = outcomes[1][0] == EventOutcome.APPLIED and kind != "not a list"
        assert took == [False, vouched], case


# Values the JSON argument and its casts must carry exactly as the general path's save() does.
UNUSUAL = {
    "no address": ({}, None),
    "IPv6 address": ({}, "2001:db8::1"),
    "IPv4-mapped address": ({}, "::ffff:203.113.1.9"),
    "non-ASCII text": ({"CID": "Số máy ☎ 028", "Ivr": "\u0661"}, "127.0.0.1"),
    "price past the column's precision": ({"Price": "1.23456"}, "127.0.0.1"),
    "price below the column's precision": ({"Price": "0.00004"}, "127.0.0.1"),
    "price rounded half up": ({"Price": "0.00005"}, "127.0.0.1"),
    "price with padding zeros": ({"Price": "0" * 30 + "5." + "0" * 30}, "127.0.0.1"),
    "numbers padded with spaces": ({"CallDuration": " 13 ", "SendStatus": "5 "}, "127.0.0.1"),
    "largest price the column holds": ({"Price": "999999999999.9999"}, "127.0.0.1"),
    "CID at its longest": ({"CID": "9" * 40}, "127.0.0.1"),
}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", UNUSUAL)
def test_both_paths_store_unusual_values_alike(
    require_postgres: Any, fast_applied: list[bool], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    extra, address = UNUSUAL[case]
    fields = {**_fields("answered", SMSID), **extra}
    rows, outcomes = [], []
    for fast in (False, True):
        call = _make_call(CallStatus.ACCEPTED, SMSID, [])
        before = VoiceCall.objects.filter(pk=call.pk).values().get()
        fast_applied.clear()
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(fastpath, "usable", lambda conn: False)
            event = services.record_result(
                call_uuid=str(call.uuid),
                source=EventSource.CALLBACK,
                raw=f"{urlencode(fields)}&note=Việt",
                result=parse_call_result(fields),
                remote_addr=address,
                method="GET",
            )
        assert event is not None
        outcomes.append(event.outcome)
        rows.append((_row(call, before), _event_row(event)))
        assert fast_applied == ([True] if fast else [])
    assert outcomes == [EventOutcome.APPLIED] * 2
    assert rows[0] == rows[1]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_applied_callback_is_one_statement_and_a_receiver_gets_the_whole_call(
    require_postgres: Any,
    signals: dict[str, list[Any]],
    django_assert_num_queries: Any,
    no_prepared_statements: None,
) -> None:
    # The same shape of statement (status, columns, SMSID spellings) is prepared first.
    first_smsid = SMSID.replace("0", "a")
    first = _make_call(CallStatus.ACCEPTED, first_smsid, [])
    _apply(first, _fields("answered", first_smsid))
    signals["changed"].clear()
    signals["received"].clear()
    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    query = urlencode(_fields("answered", SMSID))

    with django_assert_num_queries(1):
        response = Client().get(f"{callback_path(call.uuid)}?{query}")

    assert response.json() == {"outcome": EventOutcome.APPLIED}
    # psycopg prepared it for the first callback of the session: this one only ran it.
    [(statement, runs)] = prepared_statements()
    assert (statement.startswith("WITH p AS"), runs) == (True, 2)
    [change] = signals["changed"]
    assert (change["old"], change["new"]) == (CallStatus.ACCEPTED, CallStatus.ANSWERED)
    assert change["call"].pk == call.pk
    assert (change["call"].status, change["call"].price) == (CallStatus.ANSWERED, Decimal("500"))
    assert change["call"].completed_at is not None
    [event] = signals["received"]
    assert change["event"] is event
    assert (event.outcome, event.old_status, event.new_status) == (
        EventOutcome.APPLIED,
        CallStatus.ACCEPTED,
        CallStatus.ANSWERED,
    )
    assert CallbackEvent.objects.get(call=call).pk == event.pk


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_general_path_runs(
    require_postgres: Any, fast_applied: list[bool]
) -> None:
    from django.db import transaction

    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    fields = _fields("answered", SMSID)
    with transaction.atomic():
        event = services.record_result(
            call_uuid=call.uuid,
            source=EventSource.CALLBACK,
            raw=urlencode(fields),
            result=parse_call_result(fields),
        )
    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
    assert fast_applied == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_authoritative_poll_takes_the_general_path(
    require_postgres: Any, fast_applied: list[bool]
) -> None:
    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    fields = _fields("answered", SMSID)
    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.POLL,
        raw=urlencode(fields),
        result=parse_call_result(fields),
        authoritative=True,
    )
    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
    assert fast_applied == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_unknown_call_falls_through_and_stores_nothing(
    require_postgres: Any, fast_applied: list[bool]
) -> None:
    fields = _fields("answered", SMSID)
    event = services.record_result(
        call_uuid=uuid.uuid4(),
        source=EventSource.CALLBACK,
        raw=urlencode(fields),
        result=parse_call_result(fields),
    )
    assert event is None
    assert fast_applied == [False]
    assert not CallbackEvent.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_value_the_statement_refuses_takes_the_general_path(
    require_postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(**kwargs: Any) -> None:
        raise DataError("value out of range")

    monkeypatch.setattr(fastpath, "apply_advance", refused)
    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    response = Client().get(f"{callback_path(call.uuid)}?{urlencode(_fields('answered', SMSID))}")

    assert response.json() == {"outcome": EventOutcome.APPLIED}
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert CallbackEvent.objects.filter(call=call).count() == 1


# A price PostgreSQL's numeric cannot hold ("value overflows numeric format"). The parser
# refuses it; these tests put it in the result past the parser, to test the storing rule alone.
UNSTORABLE_PRICE = Decimal("1e-16384")


def _unstorable_result(fields: dict[str, str]) -> Any:
    return replace(parse_call_result(fields), price=UNSTORABLE_PRICE)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_value_the_database_refuses_is_stored_as_an_error_on_both_paths(
    require_postgres: Any, monkeypatch: pytest.MonkeyPatch, signals: dict[str, list[Any]]
) -> None:
    fields = _fields("answered", SMSID)
    rows = []
    for fast in (False, True):
        call = _make_call(CallStatus.ACCEPTED, SMSID, [])
        before = VoiceCall.objects.filter(pk=call.pk).values().get()
        signals["received"].clear()
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(fastpath, "usable", lambda conn: False)
            with pytest.raises(DataError):
                services.record_result(
                    call_uuid=str(call.uuid),
                    source=EventSource.CALLBACK,
                    raw=urlencode(fields),
                    result=_unstorable_result(fields),
                    remote_addr="127.0.0.1",
                    method="GET",
                )
        assert VoiceCall.objects.filter(pk=call.pk).values().get() == before
        [event] = CallbackEvent.objects.filter(call=call)
        assert event.outcome == EventOutcome.ERROR
        assert event.error.startswith("DataError: value overflows numeric format")
        assert (event.raw, event.method, event.remote_addr) == (
            urlencode(fields),
            "GET",
            "127.0.0.1",
        )
        assert event.new_status == event.old_status
        assert [e.pk for e in signals["received"]] == [event.pk]
        rows.append(_event_row(event))
    assert rows[0] == rows[1]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_callback_the_database_refuses_is_stored_and_answered_as_an_error(
    require_postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payloads, "parse_call_result", _unstorable_result)
    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    before = VoiceCall.objects.filter(pk=call.pk).values().get()
    query = urlencode(_fields("answered", SMSID))

    response = Client().get(f"{callback_path(call.uuid)}?{query}")

    assert response.status_code == 500  # as for any stored error: eSMS retries
    [event] = CallbackEvent.objects.filter(call=call)
    assert (event.outcome, event.raw) == (EventOutcome.ERROR, query)
    assert VoiceCall.objects.filter(pk=call.pk).values().get() == before


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_database_unavailable_in_the_fast_path_answers_503_and_stores_nothing(
    require_postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(**kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(fastpath, "apply_advance", unavailable)
    call = _make_call(CallStatus.ACCEPTED, SMSID, [])
    before = VoiceCall.objects.filter(pk=call.pk).values().get()
    response = Client().get(f"{callback_path(call.uuid)}?{urlencode(_fields('answered', SMSID))}")

    assert response.status_code == 503
    assert not CallbackEvent.objects.exists()
    assert VoiceCall.objects.filter(pk=call.pk).values().get() == before


# ----------------------------------------------------------------------------- concurrency


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_racing_progress_and_final_callbacks_record_the_true_old_status(
    require_postgres: Any, signals: dict[str, list[Any]]
) -> None:
    calls = [_make_call(CallStatus.ACCEPTED, SMSID, []) for _ in range(8)]
    paths = [
        f"{callback_path(call.uuid)}?{urlencode(_fields(kind, SMSID))}"
        for call in calls
        for kind in ("progress", "answered")
    ]
    barrier = threading.Barrier(len(paths))
    errors: list[BaseException] = []

    def hit(path: str) -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            assert client.get(path).status_code == 200
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    for call in calls:
        call.refresh_from_db()
        assert call.status == CallStatus.ANSWERED
        history = list(CallbackEvent.objects.filter(call=call).order_by("id"))
        # Each event's old status is what the call had just before it: a chain.
        status = CallStatus.ACCEPTED
        for event in history:
            assert event.old_status == status, [(e.old_status, e.new_status) for e in history]
            status = event.new_status
        assert sorted(e.outcome for e in history) in (
            [EventOutcome.APPLIED, EventOutcome.APPLIED],
            [EventOutcome.APPLIED, EventOutcome.OUT_OF_ORDER],
        )
        # One signal per real change (threads send theirs in no particular order).
        mine = [(c["old"], c["new"]) for c in signals["changed"] if c["call"].pk == call.pk]
        applied = [(e.old_status, e.new_status) for e in history if e.outcome == "applied"]
        assert sorted(mine) == sorted(applied)


# ----------------------------------------------------------------------------- other databases


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_is_for_postgresql_in_autocommit_only() -> None:
    from django.db import transaction

    assert fastpath.usable(connection) == (connection.vendor == "postgresql")
    with transaction.atomic():
        assert not fastpath.usable(connection)
