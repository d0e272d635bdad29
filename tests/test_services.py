"""The domain operations against the eSMS simulator on loopback: create, place, results, sweep."""

from __future__ import annotations

import datetime as dt
import importlib
import math
import re
import threading
import types
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from unittest import mock
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.exceptions import EsmsInputError, InvalidPhoneNumber
from django_esms_voice.models import (
    CallbackEvent,
    CallKind,
    EventOutcome,
    EventSource,
    VoiceCall,
)
from django_esms_voice.services import placing, ratelimit, results, sweeping
from django_esms_voice.signals import call_status_changed, callback_received
from django_esms_voice.signing import callback_token, callback_url
from django_esms_voice.states import FINAL, CallStatus
from django_esms_voice.tasks import enqueue_calls_task, place_call_task
from django_esms_voice.testing.simulator import (
    GET_SEND_STATUS,
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    EsmsSimulator,
    Outcome,
    Script,
)

PHONE = "0901888484"
OTHER_PHONE = "0912345678"
SMSID = "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf"
CALLBACK_PATH = re.compile(r"^/esms-voice/callback/(?P<uuid>[0-9a-f-]{36})/(?P<token>[^/]+)/$")

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def simulator() -> Iterator[EsmsSimulator]:
    """One fake eSMS server for the module, on a free loopback port."""
    with EsmsSimulator(
        api_key="test-key",
        secret_key="test-secret",
        port=0,
        callback_delay=0.2,
        callback_retry_delay=0.1,
        stall_seconds=2.0,
    ) as sim:
        yield sim


def esms_settings(sim: EsmsSimulator, **extra: Any) -> dict[str, Any]:
    """Return an ESMS_VOICE setting that points the app at the simulator."""
    return {
        "API_KEY": "test-key",
        "SECRET_KEY": "test-secret",
        "BASE_URL": sim.base_url,
        "BALANCE_URL": sim.balance_url,
        "RETRY_BACKOFF": 1,
        "TIMEOUT": (2.0, 5.0),
        **extra,
    }


@pytest.fixture
def sim(simulator: EsmsSimulator, settings: Any) -> Iterator[EsmsSimulator]:
    """The simulator, reset, with the app pointed at it and no CallbackUrl."""
    simulator.reset()
    simulator.callback_delay = 0.2
    settings.ESMS_VOICE = esms_settings(simulator)
    yield simulator
    simulator.reset()


@pytest.fixture(autouse=True)
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: no test in this module may reach a real one."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    monkeypatch.setattr(enqueue_calls_task, "apply_async", fake.fan_out)
    return fake


def enqueued_ids(fake: mock.Mock) -> list[int]:
    """Return the call ids the place task was enqueued for, in order."""
    return [c.args[0][0] for c in fake.call_args_list]


@pytest.fixture
def signals() -> Iterator[dict[str, list[Any]]]:
    """Record call_status_changed and callback_received as they are sent."""
    sent: dict[str, list[Any]] = {"changed": [], "received": []}

    def on_changed(*, call: VoiceCall, old: str, new: str, event: Any, **kwargs: Any) -> None:
        sent["changed"].append((call.pk, old, new, event))

    def on_received(*, event: CallbackEvent, **kwargs: Any) -> None:
        sent["received"].append(event)

    call_status_changed.connect(on_changed, weak=False)
    callback_received.connect(on_received, weak=False)
    yield sent
    call_status_changed.disconnect(on_changed)
    callback_received.disconnect(on_received)


def new_call(**fields: Any) -> VoiceCall:
    """Create a pending recording call without enqueuing it."""
    return services.create_call(enqueue=False, **{"phone": PHONE, "template_id": "rec-1", **fields})


def accepted_call(smsid: str = SMSID, **fields: Any) -> VoiceCall:
    """Create a call as eSMS accepted it."""
    call = new_call(**fields)
    VoiceCall.objects.filter(pk=call.pk).update(
        status=CallStatus.ACCEPTED, smsid=smsid, attempts=1, submitted_at=timezone.now()
    )
    call.refresh_from_db()
    return call


def callback_fields(smsid: str = SMSID, **overrides: str) -> dict[str, str]:
    """Return a final ANSWERED callback's query, as eSMS sends it."""
    fields = {
        "ReferenceId": smsid,
        "CallDuration": "13",
        "CallStatus": "ANSWERED",
        "Ivr": "1",
        "Price": "500.0000",
        "SentResult": "1",
        "CID": "02871002454",
        "SendStatus": "5",
    }
    fields.update(overrides)
    return fields


def deliver(call: VoiceCall, fields: dict[str, str], **kwargs: Any) -> CallbackEvent | None:
    """Apply one callback (or, with source/authoritative, one poll) through the service."""
    options: dict[str, Any] = {
        "source": EventSource.CALLBACK,
        "remote_addr": "127.0.0.1",
        "method": "GET",
        **kwargs,
    }
    return services.record_result(
        call_uuid=call.uuid, raw=urlencode(fields), result=parse_call_result(fields), **options
    )


def make_call_requests(sim: EsmsSimulator) -> list[Any]:
    """Return the MakeCall requests the simulator received."""
    return [r for r in sim.requests if r.endpoint in (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE)]


def status_requests(sim: EsmsSimulator) -> list[Any]:
    """Return the GetSendStatus requests the simulator received."""
    return [r for r in sim.requests if r.endpoint == GET_SEND_STATUS]


# ----------------------------------------------------------------------------- create_call


@pytest.mark.django_db
def test_create_call_normalises_the_phone() -> None:
    call = new_call(phone="+84 90 188 8484")
    assert call.phone == PHONE
    call.refresh_from_db()
    assert (call.phone, call.status, call.kind, call.attempts) == (
        PHONE,
        CallStatus.PENDING,
        CallKind.RECORD,
        0,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["12345", "0901abcdef", "+1 202 555 0100", ""])
def test_create_call_refuses_a_wrong_phone_and_saves_nothing(phone: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        new_call(phone=phone)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_create_template_call_with_variables() -> None:
    call = new_call(
        kind=CallKind.TEMPLATE,
        template_id="script-7",
        variables=["Trung", 20000],
        voice="female",
        speed=1,
    )
    call.refresh_from_db()
    assert call.kind == CallKind.TEMPLATE
    assert call.variables == ["Trung", "20000"]
    assert (call.voice, call.speed) == ("female", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options",
    [
        {"ivr_key": 1, "number_forward": "0901888485"},
        {"ivr_key": 1},
        {"number_forward": "0901888485"},
    ],
)
def test_recording_only_options_are_refused_on_template_calls(options: dict[str, Any]) -> None:
    with pytest.raises(EsmsInputError):
        new_call(kind=CallKind.TEMPLATE, variables=["Trung"], **options)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_script_options_are_refused_on_recording_calls() -> None:
    with pytest.raises(EsmsInputError):
        new_call(kind=CallKind.RECORD, variables=["Trung"])
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_the_task_is_enqueued_only_after_commit(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call = services.create_call(phone=PHONE, template_id="rec-1")
        assert not apply_async.called  # the row is not committed yet
    assert len(callbacks) == 1
    assert not apply_async.called
    callbacks[0]()
    assert enqueued_ids(apply_async) == [call.pk]


@pytest.mark.django_db
def test_a_rolled_back_call_is_never_enqueued(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    def create_then_fail() -> None:
        with transaction.atomic():
            services.create_call(phone=PHONE, template_id="rec-1")
            raise RuntimeError("the host view failed after creating the call")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        create_then_fail()
    assert callbacks == []
    assert not apply_async.called
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_a_broker_failure_is_logged_and_the_call_stays_pending(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    apply_async.side_effect = BrokerError("Error 111 connecting to 127.0.0.1:6379")
    with (
        caplog.at_level("WARNING", logger="django_esms_voice.services"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        call = services.create_call(phone=PHONE, template_id="rec-1")
    assert len(callbacks) == 1
    assert apply_async.call_count == 1
    assert "Could not enqueue 1 voice call(s)" in caplog.text
    call.refresh_from_db()
    assert call.status == CallStatus.PENDING
    assert call.attempts == 0


# ----------------------------------------------------------------------------- create_calls


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {"phone": f"+84 90 1{index:06d}", "template_id": "rec-1", "metadata": {"row": index}}
        for index in range(count)
    ]


@pytest.mark.django_db
def test_create_calls_runs_a_fixed_number_of_queries(django_assert_num_queries: Any) -> None:
    def captured(count: int) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            created = services.create_calls(_rows(count), batch="load", enqueue=False)
        assert len(created) == count
        return [q["sql"] for q in ctx.captured_queries]

    small, large = captured(10), captured(1000)

    def inserts(queries: list[str]) -> list[str]:
        return [q for q in queries if q.lstrip().upper().startswith("INSERT")]

    def others(queries: list[str]) -> list[str]:
        return [q for q in queries if not q.lstrip().upper().startswith("INSERT")]

    # Nothing per row: besides the chunked INSERTs, 10 and 1,000 rows cost the same.
    assert len(others(large)) == len(others(small))
    assert len(inserts(small)) == 1
    fields = [f for f in VoiceCall._meta.concrete_fields if not f.primary_key]
    chunk = min(services.BULK_CHUNK_SIZE, connection.ops.bulk_batch_size(fields, [None] * 1000))
    assert len(inserts(large)) == math.ceil(1000 / chunk)
    if connection.vendor == "postgresql":
        assert len(inserts(large)) == 2  # two chunks of 500
    assert VoiceCall.objects.filter(batch="load").count() == 1010
    # The absolute pin: a savepoint, one INSERT, its release.
    with django_assert_num_queries(3):
        services.create_calls(_rows(10), enqueue=False)


@pytest.mark.django_db
def test_create_calls_with_one_invalid_row_creates_nothing() -> None:
    rows = _rows(6)
    rows[2]["phone"] = "12345"  # row 3
    rows[4]["phone"] = "0901abcdef"  # row 5
    with pytest.raises(services.BulkCallError) as caught:
        services.create_calls(rows)
    assert set(caught.value.errors) == {3, 5}
    assert isinstance(caught.value.errors[3], InvalidPhoneNumber)
    assert "row 3" in str(caught.value)
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_a_large_batch_is_fanned_out_through_a_worker(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    count = services.FAN_OUT_CHUNK + services.FAN_OUT_ABOVE
    rows = [{"phone": f"09{n:08d}", "template_id": "rec-1"} for n in range(count)]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows, batch="big")

    # The creating request publishes one message per chunk of ids, not one per call.
    assert not apply_async.called
    chunks = [c.args[0][0] for c in apply_async.fan_out.call_args_list]
    assert [len(chunk) for chunk in chunks] == [services.FAN_OUT_CHUNK, services.FAN_OUT_ABOVE]
    assert sorted(pk for chunk in chunks for pk in chunk) == sorted(c.pk for c in created)

    # The worker that runs a chunk publishes the place task of each of its calls.
    assert enqueue_calls_task.run(chunks[1]) == services.FAN_OUT_ABOVE
    assert enqueued_ids(apply_async) == chunks[1]
    assert not apply_async.fan_out.call_count > 2  # a worker never fans out again


@pytest.mark.django_db
def test_a_small_batch_is_enqueued_directly(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    rows = [{"phone": f"09{n:08d}", "template_id": "rec-1"} for n in range(services.FAN_OUT_ABOVE)]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows)
    assert not apply_async.fan_out.called
    assert sorted(enqueued_ids(apply_async)) == sorted(c.pk for c in created)


@pytest.mark.django_db
def test_create_calls_links_the_content_object_and_enqueues_after_commit(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    customer = Group.objects.create(name="customer 42")
    rows = [
        {"phone": PHONE, "template_id": "rec-1", "content_object": customer},
        {"phone": OTHER_PHONE, "template_id": "rec-1"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.create_calls(rows, batch="june")
        assert not apply_async.called
    assert sorted(enqueued_ids(apply_async)) == sorted(c.pk for c in created)
    linked, unlinked = (VoiceCall.objects.get(pk=c.pk) for c in created)
    assert linked.content_type == ContentType.objects.get_for_model(Group)
    assert linked.object_id == str(customer.pk)
    assert linked.content_object == customer
    assert (unlinked.content_type, unlinked.object_id) == (None, "")
    assert {linked.batch, unlinked.batch} == {"june"}


# ----------------------------------------------------------------------------- place_call


@pytest.mark.django_db
def test_place_call_is_accepted_with_its_request_id_and_callback_url(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, CALLBACK_BASE_URL="http://127.0.0.1:9")
    sim.default = Script(callbacks="none")  # the URL is recorded, nothing is sent to it
    call = new_call()

    result = services.place_call(call.pk)

    assert (result.status, result.retry_in, result.skipped) == (CallStatus.ACCEPTED, None, False)
    (request,) = make_call_requests(sim)
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    assert call.smsid
    assert call.smsid == call.smsid.strip()
    assert sim.find_call(call.smsid) is not None
    assert sim.find_call(call.smsid).smsid == call.smsid
    assert (call.attempts, call.last_error_code, call.last_error_message) == (1, "", "")
    assert call.submitted_at is not None
    assert call.completed_at is None
    assert request.endpoint == MAKE_CALL_RECORD
    assert request.params["RequestID"] == str(call.uuid)
    assert (request.params["Phone"], request.params["TemplateId"]) == (PHONE, "rec-1")
    url = urlsplit(request.params["CallbackUrl"])
    assert (url.scheme, url.netloc) == ("http", "127.0.0.1:9")
    match = CALLBACK_PATH.match(url.path)
    assert match, url.path
    assert match["uuid"] == str(call.uuid)
    assert match["token"] == callback_token(call.uuid)
    assert request.params["CallbackUrl"] == callback_url(call.uuid)

    again = services.place_call(call.pk)

    assert again.skipped
    assert again.status is None
    assert len(make_call_requests(sim)) == 1
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.ACCEPTED, 1)


@pytest.mark.django_db
def test_a_template_call_sends_its_variables_and_no_callback_url_without_a_base(
    sim: EsmsSimulator,
) -> None:
    call = new_call(kind=CallKind.TEMPLATE, template_id="script-7", variables=["Trung", 20000])
    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    (request,) = make_call_requests(sim)
    assert request.endpoint == MAKE_CALL_TEMPLATE
    assert request.params["RequestId"] == str(call.uuid)
    assert request.params["VariableListStr"] == "Trung||20000"
    assert "CallbackUrl" not in request.params


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["99", "101", "103", "104", "106", "108", "140", "999"])
def test_a_refusal_is_final_and_never_retried(sim: EsmsSimulator, code: str) -> None:
    sim.script(PHONE, Script(reject_code=code))
    call = new_call()

    result = services.place_call(call.pk)

    assert (result.status, result.retry_in) == (CallStatus.REJECTED, None)
    call.refresh_from_db()
    assert call.status == CallStatus.REJECTED
    assert call.last_error_code == code
    assert call.last_error_message
    assert (call.attempts, call.smsid, call.next_attempt_at) == (1, "", None)
    assert call.completed_at is not None
    assert services.place_call(call.pk).skipped
    assert len(make_call_requests(sim)) == 1


@pytest.mark.django_db
def test_a_timeout_is_retried_with_the_same_request_id_and_124_means_accepted(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, TIMEOUT=(2.0, 0.5))
    # The simulator takes the call, then stalls past our read timeout.
    sim.script(PHONE, Script(failures=["timeout"]))
    call = new_call()
    before = timezone.now()

    first = services.place_call(call.pk)

    assert first.status == CallStatus.PENDING
    assert first.retry_in is not None
    assert first.retry_in > 0
    call.refresh_from_db()
    assert (call.status, call.attempts, call.last_error_code) == (
        CallStatus.PENDING,
        1,
        "EsmsTimeout",
    )
    assert call.next_attempt_at is not None
    assert call.next_attempt_at > before

    second = services.place_call(call.pk)

    assert (second.status, second.retry_in) == (CallStatus.ACCEPTED, None)
    call.refresh_from_db()
    assert (call.status, call.attempts, call.last_error_code) == (CallStatus.ACCEPTED, 2, "")
    assert call.smsid == ""  # 124 carries no SMSID: a callback's ReferenceId is adopted later
    assert len(sim.accepted(str(call.uuid))) == 1  # eSMS placed the call once
    attempts = [r for r in make_call_requests(sim) if r.request_id == str(call.uuid)]
    assert [r.code for r in attempts] == ["100", "124"]


@pytest.mark.django_db
@pytest.mark.filterwarnings("error::DeprecationWarning")
@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("http_500", "EsmsHTTPError"),
        ("non_json", "EsmsInvalidResponse"),
        ("drop", "EsmsConnectionError"),
    ],
)
def test_a_transport_failure_then_success_is_accepted(
    sim: EsmsSimulator, failure: str, error: str
) -> None:
    sim.script(PHONE, Script(failures=[failure]))
    call = new_call()

    first = services.place_call(call.pk)

    assert first.status == CallStatus.PENDING
    assert first.retry_in is not None
    call.refresh_from_db()
    assert (call.status, call.last_error_code) == (CallStatus.PENDING, error)

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.ACCEPTED, 2)
    assert call.smsid
    assert len(sim.accepted(str(call.uuid))) == 1
    assert {r.request_id for r in make_call_requests(sim)} == {str(call.uuid)}


@pytest.mark.filterwarnings("error::DeprecationWarning")  # a TypeError from Python 3.12
@pytest.mark.parametrize(("backoff", "floor"), [(5, 1.0), (5.0, 1.0), (0.5, 1.0)])
def test_retry_delay_is_exponential_with_full_jitter(
    settings: Any, backoff: float, floor: float
) -> None:
    settings.ESMS_VOICE = {
        "API_KEY": "test-key",
        "SECRET_KEY": "test-secret",
        "RETRY_BACKOFF": backoff,
        "RETRY_BACKOFF_MAX": 60,
    }
    for attempt in (1, 2, 3, 4, 5, 6, 50):
        ceiling = max(min(60.0, backoff * 2 ** (attempt - 1)), floor)
        delays = [services.retry_delay(attempt) for _ in range(200)]
        assert all(floor <= delay <= ceiling for delay in delays), (attempt, delays)
        if ceiling > 2 * floor:  # full jitter: spread over the whole range
            assert max(delays) > ceiling / 2
            assert min(delays) < ceiling / 2


@pytest.mark.django_db
def test_max_attempts_gives_up_with_error(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, MAX_ATTEMPTS=2)
    sim.script(PHONE, Script(failures=["http_500"] * 3))
    call = new_call()

    assert services.place_call(call.pk).status == CallStatus.PENDING
    last = services.place_call(call.pk)

    assert (last.status, last.retry_in) == (CallStatus.ERROR, None)
    call.refresh_from_db()
    assert call.status == CallStatus.ERROR
    assert call.attempts == 2
    assert "gave up" in call.last_error_message
    assert call.last_error_code == "EsmsHTTPError"
    assert call.completed_at is not None
    assert services.place_call(call.pk).skipped
    assert len(make_call_requests(sim)) == 2


@pytest.mark.django_db
def test_a_callback_that_beat_the_answer_keeps_its_status_and_the_smsid_is_stored(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = placing._accept

    def callback_first(call: VoiceCall, submission: Any) -> None:
        # eSMS's in-progress callback lands between its 100 answer and our UPDATE.
        VoiceCall.objects.filter(pk=call.pk).update(status=CallStatus.IN_PROGRESS)
        original(call, submission)

    monkeypatch.setattr(placing, "_accept", callback_first)
    call = new_call()

    services.place_call(call.pk)

    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS
    (accepted,) = sim.calls.values()
    assert call.smsid == accepted.smsid


class LoseConnection:
    """An execute wrapper: the first `times` UPDATEs storing an answer fail as on a lost link."""

    def __init__(self, times: int, *, skip: int = 0) -> None:
        self.times, self.skip = times, skip
        self.failed: list[str] = []

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        storing = sql.startswith('UPDATE "esms_voice_voicecall"') and '"submitted_at" =' in sql
        if storing and self.skip:
            self.skip -= 1
        elif storing and len(self.failed) < self.times:
            self.failed.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, *args)


@pytest.mark.django_db(transaction=True)  # as in a worker: autocommit, connection closed
def test_an_answer_already_read_survives_a_lost_database_connection(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(placing, "STORE_RETRY_DELAYS", (0.01, 0.01))
    call = new_call()
    lose = LoseConnection(times=2)

    with connection.execute_wrapper(lose):
        result = services.place_call(call.pk)

    assert result.status == CallStatus.ACCEPTED
    assert len(lose.failed) == 2
    call.refresh_from_db()
    (accepted,) = sim.calls.values()
    assert (call.status, call.smsid) == (CallStatus.ACCEPTED, accepted.smsid)
    assert len(make_call_requests(sim)) == 1


@pytest.mark.django_db(transaction=True)
def test_an_answer_that_cannot_be_stored_is_logged_with_its_smsid(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(placing, "STORE_RETRY_DELAYS", (0.01,))
    call = new_call()

    with connection.execute_wrapper(LoseConnection(times=2)), pytest.raises(OperationalError):
        services.place_call(call.pk)

    (accepted,) = sim.calls.values()
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == (
        f"eSMS accepted voice call {call.pk} (SMSID {accepted.smsid}) but storing it failed: "
        "OperationalError"
    )


@pytest.mark.django_db(transaction=True)
def test_a_callback_that_beat_the_answer_loses_no_smsid_to_a_lost_connection(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(placing, "STORE_RETRY_DELAYS", (0.01,))
    original = placing._accept
    # The conditional UPDATE finds nothing to move; the connection goes when the SMSID and
    # the time eSMS took the call are stored without it.
    lose = LoseConnection(times=1, skip=1)

    def callback_first(call: VoiceCall, submission: Any) -> None:
        VoiceCall.objects.filter(pk=call.pk).update(status=CallStatus.IN_PROGRESS)
        original(call, submission)

    monkeypatch.setattr(placing, "_accept", callback_first)
    call = new_call()

    with connection.execute_wrapper(lose):
        services.place_call(call.pk)

    call.refresh_from_db()
    (accepted,) = sim.calls.values()
    assert (call.status, call.smsid) == (CallStatus.IN_PROGRESS, accepted.smsid)
    assert call.submitted_at is not None


# ----------------------------------------------------------------------------- record_result


@pytest.mark.django_db
def test_a_final_callback_is_applied_and_stored(signals: dict[str, list[Any]]) -> None:
    call = accepted_call()

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.pk
    assert (event.outcome, event.old_status, event.new_status) == (
        EventOutcome.APPLIED,
        CallStatus.ACCEPTED,
        CallStatus.ANSWERED,
    )
    assert (event.source, event.method, event.remote_addr) == ("callback", "GET", "127.0.0.1")
    assert "CallStatus=ANSWERED" in event.raw
    assert event.parsed["call_status"] == "ANSWERED"
    assert event.parsed["price"] == "500.0000"
    assert event.fingerprint == services.result_fingerprint(parse_call_result(callback_fields()))
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED
    assert (call.call_status, call.duration, call.ivr_pressed) == ("ANSWERED", 13, "1")
    assert (call.price, call.sent_result, call.cid, call.send_status) == (
        Decimal("500"),
        1,
        "02871002454",
        5,
    )
    assert call.completed_at is not None
    assert list(call.events.all()) == [event]


@pytest.mark.django_db
def test_the_same_callback_twice_is_a_duplicate() -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    call.refresh_from_db()
    before = {f: getattr(call, f) for f in ("status", "price", "duration", "completed_at")}

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.outcome == EventOutcome.DUPLICATE
    call.refresh_from_db()
    assert {f: getattr(call, f) for f in before} == before
    assert CallbackEvent.objects.filter(call=call).count() == 2


@pytest.mark.django_db
def test_a_later_price_is_merged_into_the_final_call() -> None:
    call = accepted_call()
    first = deliver(call, callback_fields(Price=""))
    assert first is not None
    assert first.outcome == EventOutcome.APPLIED
    call.refresh_from_db()
    assert call.price is None

    event = deliver(call, callback_fields(Price="700.0000"))

    assert event is not None
    assert event.outcome == EventOutcome.MERGED
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.ANSWERED)
    call.refresh_from_db()
    assert (call.status, call.price) == (CallStatus.ANSWERED, Decimal("700"))


@pytest.mark.django_db
def test_a_late_in_progress_is_out_of_order_and_changes_nothing() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    late = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    event = deliver(call, late)

    assert event is not None
    assert event.outcome == EventOutcome.OUT_OF_ORDER
    call.refresh_from_db()
    assert (call.status, call.send_status, call.duration, call.price) == (
        CallStatus.ANSWERED,
        5,
        13,
        Decimal("500"),
    )


@pytest.mark.django_db
def test_a_conflicting_callback_does_not_overwrite_a_final_result() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    no_answer = callback_fields(CallStatus="NO ANSWER", CallDuration="0", Ivr="", Price="0.0000")
    event = deliver(call, no_answer)

    assert event is not None
    assert event.outcome == EventOutcome.CONFLICT
    assert event.new_status == CallStatus.ANSWERED
    call.refresh_from_db()
    assert (call.status, call.call_status, call.duration, call.price) == (
        CallStatus.ANSWERED,
        "ANSWERED",
        13,
        Decimal("500"),
    )


@pytest.mark.django_db(transaction=True)  # autocommit: the PostgreSQL fast path is live too
def test_a_second_final_callback_with_other_values_is_a_conflict_and_changes_nothing(
    signals: dict[str, list[Any]],
) -> None:
    call = accepted_call()
    first = deliver(call, callback_fields(CID=""))
    assert first is not None
    assert first.outcome == EventOutcome.APPLIED
    signals["changed"].clear()

    rewrite = callback_fields(CallDuration="9999", Price="0.0001", Ivr="9")
    event = deliver(call, rewrite)

    assert event is not None
    assert event.outcome == EventOutcome.CONFLICT
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.ANSWERED)
    assert event.error == (
        "Not applied, differs from the call: duration (s): 13 → 9999; "
        "key pressed: 1 → 9; price: 500.0000 → 0.0001"
    )
    call.refresh_from_db()
    # Nothing of it applied, not even the CID the call did not have: the delivery is suspect.
    assert (call.status, call.duration, call.price, call.ivr_pressed, call.cid) == (
        CallStatus.ANSWERED,
        13,
        Decimal("500"),
        "1",
        "",
    )
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert (stored.outcome, stored.error) == (EventOutcome.CONFLICT, event.error)
    assert signals["changed"] == []  # no status changed
    assert [(e.pk, e.outcome) for e in signals["received"][-1:]] == [
        (event.pk, EventOutcome.CONFLICT)
    ]
    # The same delivery again is only a duplicate of the conflict.
    again = deliver(call, rewrite)
    assert again is not None
    assert again.outcome == EventOutcome.DUPLICATE


@pytest.mark.django_db
def test_an_authoritative_poll_corrects_a_stored_value_and_says_what_it_replaced(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    poll = {**ANSWERED, "CallDuration": "14", "Ivr": "1"}

    with django_capture_on_commit_callbacks(execute=True):
        event = deliver(call, poll, source=EventSource.POLL, authoritative=True)

    assert event is not None
    assert event.outcome == EventOutcome.CORRECTED
    assert event.error == "Corrected by a status poll: duration (s): 13 → 14"
    call.refresh_from_db()
    assert (call.status, call.duration, call.price) == (CallStatus.ANSWERED, 14, Decimal("500"))
    assert signals["changed"] == []  # the status is the same: callback_received tells
    assert [e.outcome for e in signals["received"]] == [EventOutcome.CORRECTED]


@pytest.mark.django_db
def test_a_correction_of_the_status_says_what_it_replaced() -> None:
    call = accepted_call()
    deliver(call, callback_fields())

    event = deliver(call, {**NO_ANSWER, "CallDuration": "0"}, authoritative=True)

    assert event is not None
    assert event.outcome == EventOutcome.CORRECTED
    assert event.error == (
        "Corrected by a status poll: status: Answered → No answer; duration (s): 13 → 0"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("authoritative", [False, True], ids=["callback", "poll"])
def test_send_status_never_goes_back_from_sent_to_waiting(authoritative: bool) -> None:
    call = accepted_call()
    waiting = {**IN_PROGRESS, "SendStatus": "2"}
    assert deliver(call, waiting) is not None
    sent = deliver(call, IN_PROGRESS)  # 2 "waiting to send", then 7 "sent": newer
    assert sent is not None
    assert sent.outcome == EventOutcome.MERGED
    call.refresh_from_db()
    assert (call.status, call.send_status) == (CallStatus.IN_PROGRESS, 7)

    late = deliver(call, {**waiting, "CID": "0281"}, authoritative=authoritative)

    assert late is not None
    assert late.outcome == EventOutcome.OUT_OF_ORDER
    call.refresh_from_db()
    assert (call.status, call.send_status, call.cid) == (CallStatus.IN_PROGRESS, 7, "")


@pytest.mark.django_db
def test_in_progress_placeholders_are_not_a_result_a_final_report_contradicts() -> None:
    call = accepted_call()
    progress = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    deliver(call, progress)
    call.refresh_from_db()
    assert (call.duration, call.price, call.sent_result) == (None, None, 1)
    # The poll's answer carries no Price; the callback that follows brings it.
    poll = {**ANSWERED, "CallDuration": "13", "Ivr": "1"}
    deliver(call, poll, source=EventSource.POLL, authoritative=True)

    event = deliver(call, callback_fields())

    assert event is not None
    assert event.outcome == EventOutcome.MERGED
    call.refresh_from_db()
    assert (call.duration, call.price, call.cid) == (13, Decimal("500"), "02871002454")


@pytest.mark.django_db
def test_an_authoritative_poll_corrects_a_final_result() -> None:
    call = accepted_call()
    deliver(call, callback_fields())
    # GetSendStatus: upper-case id, NOANSWERED, numbers as JSON numbers.
    answer = {
        "CallDuration": 0,
        "CallStatus": "NOANSWERED",
        "CodeResponse": "100",
        "Ivr": "",
        "ReferenceId": SMSID.upper(),
        "SendStatus": 5,
        "SentResult": 1,
    }

    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.POLL,
        raw=str(answer),
        result=parse_call_result(answer),
        authoritative=True,
    )

    assert event is not None
    assert (event.outcome, event.source) == (EventOutcome.CORRECTED, "poll")
    assert (event.old_status, event.new_status) == (CallStatus.ANSWERED, CallStatus.NO_ANSWER)
    call.refresh_from_db()
    assert (call.status, call.call_status, call.duration) == (
        CallStatus.NO_ANSWER,
        "NOANSWERED",
        0,
    )


@pytest.mark.django_db
def test_a_reference_id_of_another_call_is_a_mismatch() -> None:
    call = accepted_call()

    event = deliver(call, callback_fields(smsid="00000000-0000-0000-0000-000000000000"))

    assert event is not None
    assert event.outcome == EventOutcome.MISMATCH
    call.refresh_from_db()
    assert (call.status, call.smsid, call.price) == (CallStatus.ACCEPTED, SMSID, None)


@pytest.mark.django_db
def test_a_call_accepted_through_124_adopts_the_reference_id() -> None:
    call = accepted_call(smsid="")

    event = deliver(call, callback_fields(smsid=f" {SMSID.upper()} ", Price=""))

    assert event is not None
    assert event.outcome == EventOutcome.APPLIED
    call.refresh_from_db()
    assert (call.status, call.smsid) == (CallStatus.ANSWERED, SMSID.upper())
    # From now on the id is checked: another one is a mismatch, the same in any case is not.
    other = deliver(call, callback_fields(smsid="11111111-2222-3333-4444-555555555555"))
    assert other is not None
    assert other.outcome == EventOutcome.MISMATCH
    same = deliver(call, callback_fields(smsid=SMSID.lower(), Price="600.0000"))
    assert same is not None
    assert same.outcome == EventOutcome.MERGED


@pytest.mark.django_db
def test_an_invalid_delivery_is_stored_and_changes_nothing() -> None:
    call = accepted_call()

    event = services.record_result(
        call_uuid=call.uuid,
        source=EventSource.CALLBACK,
        raw="ReferenceId=x",
        result=None,
        error="SendStatus is missing",
    )

    assert event is not None
    assert event.pk
    assert (event.outcome, event.error, event.parsed, event.raw) == (
        EventOutcome.INVALID,
        "SendStatus is missing",
        {},
        "ReferenceId=x",
    )
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_a_result_that_says_nothing_known_is_invalid() -> None:
    call = accepted_call()
    event = deliver(call, callback_fields(CallStatus="", SentResult="1"))
    assert event is not None
    assert event.outcome == EventOutcome.INVALID
    call.refresh_from_db()
    assert (call.status, call.price) == (CallStatus.ACCEPTED, None)


@pytest.mark.django_db
def test_a_result_for_an_unknown_call_stores_nothing(signals: dict[str, list[Any]]) -> None:
    accepted_call()
    fields = callback_fields()

    event = services.record_result(
        call_uuid=uuid.uuid4(),
        source=EventSource.CALLBACK,
        raw=urlencode(fields),
        result=parse_call_result(fields),
    )

    assert event is None
    assert not CallbackEvent.objects.exists()
    assert signals == {"changed": [], "received": []}


@pytest.mark.django_db
def test_signals_are_sent_after_commit_once_per_real_change(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()
    progress = callback_fields(SendStatus="7", CallStatus="", CallDuration="0", Price="0.0000")
    deliveries = [
        (progress, EventOutcome.APPLIED),
        (callback_fields(Price=""), EventOutcome.APPLIED),
        (callback_fields(Price=""), EventOutcome.DUPLICATE),
        (callback_fields(), EventOutcome.MERGED),
        (progress, EventOutcome.DUPLICATE),
        (callback_fields(CallStatus="NO ANSWER"), EventOutcome.CONFLICT),
    ]
    events = []
    for fields, outcome in deliveries:
        with django_capture_on_commit_callbacks(execute=True):
            event = deliver(call, fields)
            assert event is not None
            assert event.outcome == outcome
            # Nothing is sent before the transaction commits.
            assert len(signals["received"]) == len(events)
        events.append(event)

    assert signals["received"] == events
    assert [change[:3] for change in signals["changed"]] == [
        (call.pk, CallStatus.ACCEPTED, CallStatus.IN_PROGRESS),
        (call.pk, CallStatus.IN_PROGRESS, CallStatus.ANSWERED),
    ]
    assert [change[3] for change in signals["changed"]] == events[:2]


@pytest.mark.django_db
def test_a_rolled_back_result_sends_no_signal(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = accepted_call()

    def apply_then_fail() -> None:
        with transaction.atomic():
            deliver(call, callback_fields())
            raise RuntimeError("the caller's transaction fails")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        apply_then_fail()
    assert signals == {"changed": [], "received": []}
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_an_error_while_judging_still_stores_the_delivery(
    monkeypatch: pytest.MonkeyPatch,
    signals: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    call = accepted_call()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(results, "judge", broken)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError, match="boom"),
    ):
        deliver(call, callback_fields())

    (event,) = CallbackEvent.objects.all()
    assert event.outcome == EventOutcome.ERROR
    assert event.error == "RuntimeError: boom"
    assert "CallStatus=ANSWERED" in event.raw
    assert event.call_id == call.uuid
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    assert signals["changed"] == []
    assert [e.pk for e in signals["received"]] == [event.pk]  # every stored delivery


# ----------------------------------------------------------------------------- operators


@pytest.mark.django_db
def test_cancel_a_pending_call(
    signals: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = new_call()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cancel_call(call) is True
    call.refresh_from_db()
    assert call.status == CallStatus.CANCELED
    assert call.completed_at is not None
    assert [c[:3] for c in signals["changed"]] == [
        (call.pk, CallStatus.PENDING, CallStatus.CANCELED)
    ]
    assert services.cancel_call(call) is False
    assert services.place_call(call.pk).skipped


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(set(CallStatus.values) - {CallStatus.PENDING}))
def test_only_pending_calls_can_be_canceled(status: str) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(status=status)
    assert services.cancel_call(call) is False
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", [CallStatus.REJECTED, CallStatus.ERROR])
def test_retry_a_refused_or_failed_call(
    status: str, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    customer = Group.objects.create(name="customer 7")
    old = new_call(
        kind=CallKind.TEMPLATE,
        template_id="script-7",
        variables=["Trung", "20000"],
        voice="female",
        batch="june",
        content_object=customer,
        metadata={"order": 42},
    )
    VoiceCall.objects.filter(pk=old.pk).update(
        status=status, attempts=3, last_error_code="103", smsid=""
    )
    old.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        new = services.retry_call(old)

    new.refresh_from_db()
    assert new.pk != old.pk
    assert new.uuid != old.uuid
    assert new.retry_of == old
    assert list(old.retries.all()) == [new]
    assert (new.status, new.attempts, new.last_error_code) == (CallStatus.PENDING, 0, "")
    copied = ("kind", "template_id", "variables", "voice", "phone", "batch", "metadata")
    assert {f: getattr(new, f) for f in copied} == {f: getattr(old, f) for f in copied}
    assert new.content_object == customer
    assert enqueued_ids(apply_async) == [new.pk]
    old.refresh_from_db()
    assert old.status == status  # the old call keeps its history


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", sorted(set(CallStatus.values) - {CallStatus.REJECTED, CallStatus.ERROR})
)
def test_other_statuses_cannot_be_retried(status: str, apply_async: mock.Mock) -> None:
    old = new_call()
    VoiceCall.objects.filter(pk=old.pk).update(status=status)
    old.refresh_from_db()
    with pytest.raises(EsmsInputError):
        services.retry_call(old)
    assert VoiceCall.objects.count() == 1
    assert not apply_async.called


@pytest.mark.django_db
def test_a_call_is_retried_once_whoever_asks(apply_async: mock.Mock) -> None:
    old = new_call()
    VoiceCall.objects.filter(pk=old.pk).update(status=CallStatus.REJECTED)
    old.refresh_from_db()
    services.retry_call(old)

    # The API, a command or code: the same rule as the admin's action.
    with pytest.raises(services.AlreadyRetried) as refused:
        services.retry_call(old)

    assert refused.value.field == "status"
    assert VoiceCall.objects.filter(retry_of=old).count() == 1


# ----------------------------------------------------------------------------- sweep


def _age(call: VoiceCall, **values: Any) -> None:
    VoiceCall.objects.filter(pk=call.pk).update(**values)


@pytest.mark.django_db
def test_sweep_re_enqueues_forgotten_pending_calls_once(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, PENDING_GRACE=120)
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=121)
    forgotten = new_call()  # the broker was down when it was created
    _age(forgotten, created_at=long_ago)
    retry_overdue = new_call()  # its Celery retry never came
    _age(retry_overdue, created_at=long_ago, next_attempt_at=long_ago)
    fresh = new_call()  # within the grace period: its task is on its way
    retry_later = new_call()  # a retry is scheduled
    _age(retry_later, created_at=long_ago, next_attempt_at=now + dt.timedelta(seconds=30))
    retry_recent = new_call()  # a retry was due a moment ago: within the grace period
    _age(retry_recent, created_at=long_ago, next_attempt_at=now - dt.timedelta(seconds=60))
    done = new_call()
    _age(done, created_at=long_ago, status=CallStatus.ACCEPTED)

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)
        assert not apply_async.called  # after commit only

    assert sorted(report.requeued) == sorted([forgotten.pk, retry_overdue.pk])
    assert report.recovered == []
    assert sorted(enqueued_ids(apply_async)) == sorted([forgotten.pk, retry_overdue.pk])
    for call in (forgotten, retry_overdue):
        call.refresh_from_db()
        assert (call.status, call.next_attempt_at) == (CallStatus.PENDING, now)
    untouched = {
        fresh.pk: None,
        retry_later.pk: now + dt.timedelta(seconds=30),
        retry_recent.pk: now - dt.timedelta(seconds=60),
    }
    assert (
        dict(VoiceCall.objects.filter(pk__in=untouched).values_list("pk", "next_attempt_at"))
        == untouched
    )

    # A second sweep right after finds nothing to enqueue.
    apply_async.reset_mock()
    for later in (now, now + dt.timedelta(seconds=1)):
        with django_capture_on_commit_callbacks(execute=True):
            again = services.sweep(now=later)
        assert again.requeued == []
        assert again.recovered == []
    assert not apply_async.called


@pytest.mark.django_db
def test_sweep_recovers_calls_stuck_in_submitting(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, SUBMIT_LEASE=300)
    now = timezone.now()
    stuck = new_call()  # the worker died mid-request
    _age(
        stuck, status=CallStatus.SUBMITTING, attempts=1, claimed_at=now - dt.timedelta(seconds=301)
    )
    busy = new_call()  # a worker is still waiting on eSMS
    _age(busy, status=CallStatus.SUBMITTING, attempts=1, claimed_at=now - dt.timedelta(seconds=10))

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)

    assert report.recovered == [stuck.pk]
    assert report.requeued == []
    assert enqueued_ids(apply_async) == [stuck.pk]
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, stuck.attempts, stuck.next_attempt_at) == (CallStatus.PENDING, 1, now)
    assert busy.status == CallStatus.SUBMITTING

    apply_async.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.sweep(now=now + dt.timedelta(seconds=1))
    assert (again.requeued, again.recovered) == ([], [])
    assert not apply_async.called

    # The recovered call is placed again with its RequestId.
    assert services.place_call(stuck.pk).status == CallStatus.ACCEPTED
    (request,) = make_call_requests(sim)
    assert request.request_id == str(stuck.uuid)


@pytest.mark.django_db
def test_sweep_polls_silent_accepted_calls(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900)
    sim.callback_delay = 0.0  # the result is final as soon as the call is made
    sim.script(PHONE, Script(outcome=Outcome.answered(ivr="1", duration=21)))
    silent = new_call()
    assert services.place_call(silent.pk).status == CallStatus.ACCEPTED
    recent = new_call(phone=OTHER_PHONE)
    assert services.place_call(recent.pk).status == CallStatus.ACCEPTED
    no_smsid = accepted_call(smsid="")  # accepted through 124: nothing to poll with
    now = timezone.now()
    long_ago = now - dt.timedelta(seconds=901)
    _age(silent, submitted_at=long_ago)
    _age(no_smsid, submitted_at=long_ago)

    report = services.sweep(now=now)

    assert (report.polled, report.poll_errors) == (1, 0)
    silent.refresh_from_db()
    (poll,) = status_requests(sim)
    assert poll.params["ReferenceId"] == silent.smsid
    assert silent.status == CallStatus.ANSWERED
    assert (silent.duration, silent.ivr_pressed, silent.call_status) == (21, "1", "ANSWERED")
    assert silent.last_polled_at == now
    (event,) = silent.events.all()
    assert (event.source, event.outcome) == (EventSource.POLL, EventOutcome.APPLIED)
    assert (event.old_status, event.new_status) == (CallStatus.ACCEPTED, CallStatus.ANSWERED)
    assert '"CodeResponse": "100"' in event.raw
    for call in (recent, no_smsid):
        call.refresh_from_db()
        assert call.status == CallStatus.ACCEPTED
        assert call.last_polled_at is None
        assert not call.events.exists()


@pytest.mark.django_db
def test_sweep_leaves_a_call_esms_does_not_know_yet(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900)
    call = accepted_call(smsid="5e1ec7ed-0000-4000-8000-000000000105")  # unknown: 105
    now = timezone.now()
    _age(call, submitted_at=now - dt.timedelta(seconds=901))

    report = services.sweep(now=now)

    assert (report.polled, report.poll_errors) == (0, 0)
    assert [r.code for r in status_requests(sim)] == ["105"]
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED  # not an error: ask again later
    assert (call.last_error_code, call.last_polled_at) == ("", now)
    assert not CallbackEvent.objects.exists()
    # Not asked again before POLL_AFTER has passed once more.
    services.sweep(now=now + dt.timedelta(seconds=1))
    assert len(status_requests(sim)) == 1
    services.sweep(now=now + dt.timedelta(seconds=902))
    assert len(status_requests(sim)) == 2


@pytest.mark.django_db
def test_sweep_ends_accepted_calls_without_a_result_as_charged_result_unknown(
    sim: EsmsSimulator,
    settings: Any,
    signals: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    lost = accepted_call(smsid="")  # accepted through 124 and its callback was lost
    _age(lost, submitted_at=now - dt.timedelta(seconds=3601))
    waiting = accepted_call(smsid="")
    _age(waiting, submitted_at=now - dt.timedelta(seconds=3000))

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)

    assert report.expired == [lost.pk]
    lost.refresh_from_db()
    waiting.refresh_from_db()
    # eSMS placed and charged it: not "error", which says eSMS may not have the call.
    assert (lost.status, lost.last_error_code, lost.completed_at) == (
        CallStatus.UNKNOWN,
        "no_result",
        now,
    )
    assert lost.status in FINAL
    assert lost.get_status_display() == "Charged, result unknown"
    assert waiting.status == CallStatus.ACCEPTED
    assert [(pk, old, new) for pk, old, new, _ in signals["changed"]] == [
        (lost.pk, CallStatus.ACCEPTED, CallStatus.UNKNOWN)
    ]
    with pytest.raises(EsmsInputError):
        services.retry_call(lost)  # a retry would ring the number a second time

    # The truth may still come: a late callback completes the call and brings the SMSID.
    late = parse_call_result(
        {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
    )
    event = services.record_result(
        call_uuid=lost.uuid, source=EventSource.CALLBACK, raw="late", result=late
    )
    assert event is not None
    assert (event.outcome, event.old_status) == (EventOutcome.APPLIED, CallStatus.UNKNOWN)
    lost.refresh_from_db()
    assert (lost.status, lost.smsid, lost.last_error_code) == (CallStatus.ANSWERED, SMSID, "")


@pytest.mark.django_db
def test_the_migration_ends_calls_given_up_before_it_as_unknown() -> None:
    from django.apps import apps

    migration = importlib.import_module("django_esms_voice.migrations.0002_call_status_unknown")
    given_up = accepted_call(smsid="")
    _age(given_up, status=CallStatus.ERROR, last_error_code="no_result")
    never_sent = new_call()
    _age(never_sent, status=CallStatus.ERROR, last_error_code="EsmsTimeout")

    migration._unknown_for_given_up(apps, None)

    assert VoiceCall.objects.get(pk=given_up.pk).status == CallStatus.UNKNOWN
    assert VoiceCall.objects.get(pk=never_sent.pk).status == CallStatus.ERROR
    migration._error_for_unknown(apps, None)  # and back
    assert VoiceCall.objects.get(pk=given_up.pk).status == CallStatus.ERROR


@pytest.mark.django_db
def test_costs_count_calls_charged_with_their_result_unknown(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    now = timezone.now()
    answered = accepted_call()
    deliver(answered, callback_fields())  # Price=500
    lost = accepted_call(smsid="")
    _age(lost, submitted_at=now - dt.timedelta(seconds=3601))
    accepted_call(smsid="")  # still waiting: not billed yet
    new_call()  # never sent

    services.sweep(now=now)

    assert VoiceCall.objects.costs() == {"billed": 2, "total": Decimal("500"), "unpriced": 1}
    assert VoiceCall.objects.filter(pk=lost.pk).costs()["billed"] == 1
    assert VoiceCall.objects.none().costs() == {"billed": 0, "total": 0, "unpriced": 0}


@pytest.mark.django_db
def test_sweep_ends_a_polled_call_that_never_got_a_result_as_unknown_too(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    # eSMS gave it an SMSID, so it has the call; its polls answer 105 (not known yet).
    call = accepted_call(smsid="5e1ec7ed-0000-4000-8000-000000000105")
    _age(call, submitted_at=now - dt.timedelta(seconds=3601))

    first = services.sweep(now=now)  # the last poll is still asked for
    call.refresh_from_db()
    assert (first.expired, call.status, len(status_requests(sim))) == ([], CallStatus.ACCEPTED, 1)

    second = services.sweep(now=now + dt.timedelta(seconds=1))
    call.refresh_from_db()
    assert second.expired == [call.pk]
    assert call.status == CallStatus.UNKNOWN


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_concurrent_sweeps_never_enqueue_a_call_twice(
    require_postgres: Any, apply_async: mock.Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    created = services.create_calls(_rows(200), enqueue=False)
    VoiceCall.objects.update(created_at=now - dt.timedelta(hours=1))
    ids = sorted(c.pk for c in created)
    seen: list[int] = []
    apply_async.side_effect = lambda args, **kwargs: seen.append(args[0])
    # A sweep of more than FAN_OUT_ABOVE calls hands them to a worker in one message.
    apply_async.fan_out.side_effect = lambda args, **kwargs: seen.extend(args[0])

    # Hold the first sweep inside its transaction, rows locked, while the second one runs:
    # the second must skip the locked rows (not wait for them, not take them again).
    first_locked, second_done = threading.Event(), threading.Event()
    held: list[bool] = []
    real_on_commit = transaction.on_commit

    def on_commit(func: Callable[[], Any], *args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "sweep-1":
            first_locked.set()
            held.append(second_done.wait(10))
        real_on_commit(func, *args, **kwargs)

    monkeypatch.setattr(
        sweeping,
        "transaction",
        types.SimpleNamespace(atomic=transaction.atomic, on_commit=on_commit),
    )
    reports: dict[str, services.SweepReport] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            if name == "sweep-2":
                assert first_locked.wait(10)
            reports[name] = services.sweep(now=now, batch_size=120)
            if name == "sweep-2":
                second_done.set()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("sweep-1", "sweep-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    # The second sweep finished while the first still held its row locks: it did not wait.
    assert held == [True]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == ids
    assert len(reports["sweep-1"].requeued) == 120
    assert len(reports["sweep-2"].requeued) == 80
    assert not set(reports["sweep-1"].requeued) & set(reports["sweep-2"].requeued)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.django_db(transaction=True)
def test_callbacks_from_esms_reach_the_call(
    sim: EsmsSimulator, settings: Any, live_server: Any, signals: dict[str, list[Any]]
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, CALLBACK_BASE_URL=live_server.url)
    sim.callback_delay = 1.0  # in progress after 0.5 s, final after 1 s: after our answer
    sim.script(PHONE, Script(outcome=Outcome.no_answer(), progress_callback=True))
    call = new_call()

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    assert sim.wait_for_callbacks(2, timeout=15)

    call.refresh_from_db()
    assert call.status == CallStatus.NO_ANSWER
    assert call.status in FINAL
    events = list(call.events.order_by("id"))
    assert [(e.outcome, e.new_status) for e in events] == [
        (EventOutcome.APPLIED, CallStatus.IN_PROGRESS),
        (EventOutcome.APPLIED, CallStatus.NO_ANSWER),
    ]
    assert {e.method for e in events} == {"GET"}
    assert [d.status for d in sim.callback_deliveries] == [200, 200]
    assert [c[1:3] for c in signals["changed"]] == [
        (CallStatus.SUBMITTING, CallStatus.ACCEPTED),
        (CallStatus.ACCEPTED, CallStatus.IN_PROGRESS),
        (CallStatus.IN_PROGRESS, CallStatus.NO_ANSWER),
    ]


# ----------------------------------------------------------------------------- rate limit


class FakeClock:
    """time.time and time.sleep for the rate limiter, without waiting for real."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.slept += seconds


def test_the_rate_limit_spreads_calls_over_time(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    clock = FakeClock(start=1_700_000_000.0)
    monkeypatch.setattr(ratelimit, "time", clock)

    starts, waited = [], 0.0
    for _ in range(30):
        waited += ratelimit.acquire(20)
        starts.append(clock.now)

    # 20 calls per second: 30 calls need at least a second of waiting, and not much more.
    assert waited == pytest.approx(clock.slept)
    assert 1.0 <= clock.slept <= 1.6
    assert starts[1] == starts[0] == 1_700_000_000.0  # the first window's two slots are free
    # No 0.1 s window ever holds more than its 2 calls.
    per_window: dict[int, int] = {}
    for start in starts:
        window = math.floor(start / ratelimit.WINDOW)
        per_window[window] = per_window.get(window, 0) + 1
    assert max(per_window.values()) == 2
    assert len(per_window) == 15


def test_no_rate_limit_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    clock = FakeClock(start=1_700_000_100.0)
    monkeypatch.setattr(ratelimit, "time", clock)
    assert sum(ratelimit.acquire(None) for _ in range(100)) == 0
    assert clock.slept == 0


# ----------------------------------------------------------------------------- review fixes

IN_PROGRESS = {"ReferenceId": SMSID, "SendStatus": "7", "CallStatus": "", "SentResult": "1"}
ANSWERED = {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
NO_ANSWER = {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "NO ANSWER", "SentResult": "1"}


@pytest.mark.django_db
def test_a_callback_that_beats_the_accept_still_leaves_a_call_the_sweep_can_end(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    call = new_call()  # a resend answered 124: no SMSID, so it can never be polled
    _age(call, status=CallStatus.SUBMITTING, attempts=2)
    progress = {k: v for k, v in IN_PROGRESS.items() if k != "ReferenceId"}
    deliver(call, progress)  # eSMS's first callback arrives before our _accept ran
    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS
    assert call.submitted_at is not None

    # Its final callback is lost: the sweep gives up on it once RESULT_TIMEOUT has passed.
    report = services.sweep(now=call.submitted_at + dt.timedelta(seconds=3601))
    assert report.expired == [call.pk]


@pytest.mark.django_db
def test_a_scheduled_call_is_not_given_up_before_its_time(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, POLL_AFTER=900, RESULT_TIMEOUT=3600)
    now = timezone.now()
    call = accepted_call(smsid="", send_at=now + dt.timedelta(days=2))
    _age(call, submitted_at=now - dt.timedelta(days=1))

    report = services.sweep(now=now)

    assert report.expired == []
    call.refresh_from_db()
    assert call.status == CallStatus.ACCEPTED
    # Once its time has come and gone by RESULT_TIMEOUT, it is.
    later = services.sweep(now=now + dt.timedelta(days=2, seconds=3601))
    assert later.expired == [call.pk]


@pytest.mark.django_db
def test_a_call_that_went_out_once_cannot_be_canceled() -> None:
    never_sent = new_call()
    timed_out = new_call()  # back to pending after a timeout: eSMS may have it
    _age(timed_out, attempts=1)

    assert services.cancel_call(never_sent) is True
    assert services.cancel_call(timed_out) is False
    timed_out.refresh_from_db()
    assert timed_out.status == CallStatus.PENDING


@pytest.mark.django_db
def test_a_call_revived_from_error_is_open_again_and_loses_its_error() -> None:
    call = accepted_call()
    _age(
        call,
        status=CallStatus.ERROR,
        completed_at=timezone.now(),
        last_error_code="no_result",
        last_error_message="no result",
    )
    deliver(call, IN_PROGRESS)
    call.refresh_from_db()
    assert (call.status, call.completed_at) == (CallStatus.IN_PROGRESS, None)
    assert (call.last_error_code, call.last_error_message) == ("", "")


@pytest.mark.django_db
def test_status_changed_receivers_get_the_call_as_it_now_is(
    sim: EsmsSimulator, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[tuple[str, str, str]] = []

    def receiver(*, call: VoiceCall, new: str, **kwargs: Any) -> None:
        seen.append((call.status, new, call.smsid))

    call_status_changed.connect(receiver, weak=False)
    try:
        call = new_call()
        with django_capture_on_commit_callbacks(execute=True):
            services.place_call(call.pk)
    finally:
        call_status_changed.disconnect(receiver)
    [(status, new, smsid)] = seen
    assert status == new == CallStatus.ACCEPTED
    assert smsid  # the SMSID eSMS just returned, not the empty one the call had


@pytest.mark.django_db
def test_a_poll_is_not_dropped_because_a_conflicting_callback_had_the_same_fields() -> None:
    call = accepted_call()
    deliver(call, ANSWERED)
    conflicting = deliver(call, NO_ANSWER)  # a callback cannot overturn a final result
    assert conflicting is not None
    assert conflicting.outcome == EventOutcome.CONFLICT

    poll = deliver(call, NO_ANSWER, source=EventSource.POLL, authoritative=True)

    assert poll is not None
    assert poll.outcome == EventOutcome.CORRECTED
    call.refresh_from_db()
    assert call.status == CallStatus.NO_ANSWER


@pytest.mark.django_db
def test_a_poll_answer_is_stored_with_credentials_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_esms_voice import backends

    call = accepted_call()
    echoed = {**ANSWERED, "Debug": "ApiKey=APIKEY-SENTINEL-9&SecretKey=SECRET-SENTINEL-9"}

    class Echoing:
        def get_send_status(self, smsid: str) -> Any:
            return parse_call_result(echoed)

    monkeypatch.setattr(results, "get_backend", lambda: Echoing())
    event = services.refresh_status(call)

    assert event is not None
    assert "SENTINEL" not in event.raw
    assert backends  # the module the real backend comes from


@pytest.mark.django_db
def test_the_sweep_gives_up_on_at_most_a_batch_of_calls_per_pass(
    sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RESULT_TIMEOUT=3600)
    now = timezone.now()
    lost = [accepted_call(smsid="") for _ in range(3)]
    for call in lost:
        _age(call, submitted_at=now - dt.timedelta(seconds=3601))

    first = services.sweep(now=now, batch_size=2)
    second = services.sweep(now=now, batch_size=2)

    assert (len(first.expired), len(second.expired)) == (2, 1)
    assert sorted(first.expired + second.expired) == sorted(c.pk for c in lost)
