"""place_call against the eSMS simulator: sent once, answers stored, retried with backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.exceptions import EsmsHTTPError
from django_esms_voice.models import (
    CallKind,
    VoiceCall,
)
from django_esms_voice.services import placing
from django_esms_voice.signing import callback_token, callback_url
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import (
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    EsmsSimulator,
    Script,
)

from .helpers import CALLBACK_PATH, PHONE, esms_settings, make_call_requests, new_call

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


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
# 101, 102, 103 and 140 concern the account: tests/services/test_account.py.
@pytest.mark.parametrize("code", ["99", "104", "106", "108", "999"])
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
        "timeout",
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
        ("http_500", "http_5xx"),
        ("non_json", "bad_response"),
        ("drop", "connection"),
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
    assert "<" not in call.last_error_message  # an HTML page is stored as its text

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
    assert call.last_error_code == "http_5xx"
    # The page's text, one line, not its markup: what a person reads in the admin.
    message = call.last_error_message
    assert "HTTP 500: " in message
    assert "Runtime Error Server Error in '/' Application." in message
    assert "<" not in message
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


# A failed attempt is logged once, at WARNING, by the service that knows the call (issue 13)


def failure_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the WARNING (or worse) records logged while placing, from any layer."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("http_500", "eSMS MakeCallRecord_V2: HTTP 500: "),
        ("non_json", "eSMS MakeCallRecord_V2: the answer is not a JSON object: "),
        ("timeout", "eSMS MakeCallRecord_V2: no answer within 0.5 s"),
    ],
)
def test_a_transport_failure_is_one_warning_naming_the_call_and_its_attempt(
    sim: EsmsSimulator,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    failure: str,
    reason: str,
) -> None:
    # The CallbackUrl carries the call's token: it must not reach the log either.
    settings.ESMS_VOICE = esms_settings(
        sim, TIMEOUT=(2.0, 0.5), CALLBACK_BASE_URL="http://127.0.0.1:9"
    )
    sim.script(PHONE, Script(failures=[failure, failure]))
    call = new_call()
    caplog.set_level(logging.DEBUG)
    services.place_call(call.pk)
    caplog.clear()

    result = services.place_call(call.pk)

    assert result.retry_in is not None
    (record,) = failure_warnings(caplog)  # once: the client logs it at DEBUG only
    assert record.name == placing.__name__
    text = record.getMessage()
    assert text.startswith(f"Voice call {call.pk} (uuid {call.uuid}) attempt 2 failed: {reason}")
    assert text.endswith(f"; retrying in {result.retry_in:.0f} s")
    for secret in ("test-key", "test-secret", PHONE[1:], callback_token(call.uuid)):
        assert secret not in text


@pytest.mark.django_db
def test_the_last_attempt_is_one_warning_saying_it_gives_up(
    sim: EsmsSimulator, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, MAX_ATTEMPTS=1)
    sim.script(PHONE, Script(failures=["http_500"]))
    call = new_call()
    caplog.set_level(logging.DEBUG)

    assert services.place_call(call.pk).status == CallStatus.ERROR

    (record,) = failure_warnings(caplog)
    assert record.getMessage().startswith(f"Voice call {call.pk} (uuid {call.uuid}) attempt 1 ")
    assert record.getMessage().endswith("; giving up, MAX_ATTEMPTS is 1")


@pytest.mark.django_db
def test_the_failure_warning_masks_what_an_error_page_echoes(
    sim: EsmsSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A proxy's error page may print the request back: the keys, the number, the callback URL.
    call = new_call()
    token = callback_token(call.uuid)
    echoed = (
        f"HTTP 502: 'GET /MakeCallRecord_V2?ApiKey=test-key&SecretKey=test-secret"
        f"&Phone=84{PHONE[1:]} for {PHONE}, reply to /callback/{call.uuid}/{token}/'"
    )

    def bad_gateway(call: VoiceCall) -> Any:
        raise EsmsHTTPError(echoed, endpoint="MakeCallRecord_V2", status_code=502)

    monkeypatch.setattr(placing, "_send", bad_gateway)

    services.place_call(call.pk)

    (record,) = failure_warnings(caplog)
    text = record.getMessage()
    assert "attempt 1 failed: eSMS MakeCallRecord_V2: HTTP 502: " in text
    for secret in ("test-key", "test-secret", PHONE[1:], token):
        assert secret not in text
