"""The account stops by itself: codes 101, 102, 103 and 140 pause placement for every call."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from django_esms_voice import services, testing
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.backends.locmem import LocmemBackend
from django_esms_voice.esms.redaction import register_secret
from django_esms_voice.exceptions import EsmsConnectionError
from django_esms_voice.models import AccountPause, ResumedBy, VoiceCall
from django_esms_voice.services import placing
from django_esms_voice.services.account import ADVICE
from django_esms_voice.signals import placement_paused, placement_resumed
from django_esms_voice.states import CallStatus, Hold
from django_esms_voice.testing.simulator import GET_BALANCE, EsmsSimulator, Script
from django_esms_voice.testing.simulator import protocol as sim_protocol

from .helpers import OTHER_PHONE, PHONE, age, enqueued_ids, esms_settings, make_call_requests

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")

ACCOUNT_CODES = ["101", "102", "103", "140"]
ADMINS = [("Ops", "ops@example.test")]


@dataclass
class Account:
    """The eSMS account as one backend sees it: the simulator over HTTP, or locmem."""

    backend: str
    sim: EsmsSimulator
    monkeypatch: pytest.MonkeyPatch

    def refuse(self, code: str) -> None:
        """Make every following call meet an account code, as the real account would."""
        if self.backend == "locmem":
            for phone in (PHONE, OTHER_PHONE):
                testing.script_answer(phone, code=code)
        elif code == "101":
            self.monkeypatch.setattr(self.sim, "api_key", "the-key-on-account-esms-vn")
        elif code == "103":
            self.sim.balance = Decimal(0)
        else:  # 102 and 140 depend on eSMS's side: scripted
            self.sim.default = Script(reject_code=code)

    def requests(self) -> int:
        """Return how many MakeCall requests the account received."""
        if self.backend == "locmem":
            return len(testing.outbox)
        return len(make_call_requests(self.sim))


@pytest.fixture(params=["simulator", "locmem"])
def account(
    request: pytest.FixtureRequest, sim: EsmsSimulator, settings: Any, monkeypatch: Any
) -> Account:
    """The account behind the simulator or the locmem backend; mail goes to ADMINS."""
    extra = {"BACKEND": LOCMEM_BACKEND} if request.param == "locmem" else {}
    settings.ESMS_VOICE = esms_settings(sim, **extra)
    settings.ADMINS = ADMINS
    testing.reset_outbox()
    return Account(request.param, sim, monkeypatch)


@pytest.fixture
def announced() -> Iterator[dict[str, list[Any]]]:
    """Record placement_paused and placement_resumed as they are sent."""
    sent: dict[str, list[Any]] = {"paused": [], "resumed": []}

    def on_paused(*, sender: Any, pause: AccountPause, **kwargs: Any) -> None:
        sent["paused"].append((sender, pause))

    def on_resumed(*, sender: Any, pause: AccountPause, **kwargs: Any) -> None:
        sent["resumed"].append((sender, pause))

    placement_paused.connect(on_paused, weak=False)
    placement_resumed.connect(on_resumed, weak=False)
    yield sent
    placement_paused.disconnect(on_paused)
    placement_resumed.disconnect(on_resumed)


def new_call(phone: str = PHONE) -> VoiceCall:
    """Create a pending call, not enqueued."""
    return services.create_call(phone=phone, template_id="rec-1", enqueue=False)


def in_flight(call: VoiceCall) -> VoiceCall:
    """Claim a call as a worker does (it is on its way to eSMS); return it as claimed."""
    age(call, status=CallStatus.SUBMITTING, attempts=1, claimed_at=timezone.now())
    call.refresh_from_db()
    return call


def pause_for(code: str, call: VoiceCall | None = None) -> AccountPause:
    """Open the account pause as a refusal with `code` does."""
    pause = services.pause_placement(code, f"eSMS answered code {code}", call)
    assert pause is not None
    return pause


def balance_requests(sim: EsmsSimulator) -> int:
    """Return how many GetBalance requests the simulator received."""
    return len([r for r in sim.requests if r.endpoint == GET_BALANCE])


# ----------------------------------------------------------------------------- pausing


@pytest.mark.django_db
@pytest.mark.parametrize("code", ACCOUNT_CODES)
def test_an_account_refusal_pauses_placement_once(
    code: str,
    account: Account,
    announced: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = new_call(), new_call(OTHER_PHONE)
    other = in_flight(second)  # claimed by another worker before the pause opened
    account.refuse(code)

    with django_capture_on_commit_callbacks(execute=True):
        result = services.place_call(first.pk)

    assert (result.status, result.retry_in) == (CallStatus.PENDING, None)
    first.refresh_from_db()
    # Back to pending as if never attempted: eSMS did not take it, and it can be canceled.
    assert (first.status, first.attempts, first.hold) == (CallStatus.PENDING, 0, Hold.NONE)
    assert (first.last_error_code, first.next_attempt_at) == (code, None)
    assert code in first.last_error_message
    pause = AccountPause.objects.get()
    assert (pause.code, pause.call, pause.is_open, pause.ended_at) == (code, first, True, None)
    assert code in pause.message
    assert announced["paused"] == [(AccountPause, pause)]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.test"]
    assert code in mail.outbox[0].subject
    assert str(ADVICE[code]) in mail.outbox[0].body

    # The other worker's request meets the same refusal: no second pause, no second mail.
    with django_capture_on_commit_callbacks(execute=True):
        assert placing._place_claimed(other, 3).status == CallStatus.PENDING
    assert AccountPause.objects.count() == 1
    assert len(announced["paused"]) == 1
    assert len(mail.outbox) == 1
    second.refresh_from_db()
    assert (second.status, second.attempts, second.last_error_code) == (
        CallStatus.PENDING,
        0,
        code,
    )
    assert account.requests() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("code", ACCOUNT_CODES)
def test_while_paused_no_call_is_claimed_and_no_request_is_sent(
    code: str, account: Account
) -> None:
    pause_for(code)
    calls = [new_call(), new_call(OTHER_PHONE)]

    assert [services.place_call(call.pk).skipped for call in calls] == [True, True]

    assert account.requests() == 0
    assert {(c.status, c.attempts) for c in VoiceCall.objects.all()} == {(CallStatus.PENDING, 0)}


@pytest.mark.django_db
def test_the_sweep_enqueues_nothing_while_paused(
    sim: EsmsSimulator, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    forgotten = new_call()
    long_ago = timezone.now() - dt.timedelta(hours=1)
    age(forgotten, created_at=long_ago)
    stuck = in_flight(new_call(OTHER_PHONE))
    age(stuck, claimed_at=long_ago)
    sim.balance = Decimal(0)  # the sweep's balance probe sees it still empty
    pause_for("103")

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep()

    assert report.requeued == []
    assert apply_async.call_args_list == []
    assert not apply_async.fan_out.called
    # The worker that had it died: it waits, pending, for placement to resume.
    assert report.recovered == [stuck.pk]
    assert VoiceCall.objects.get(pk=stuck.pk).status == CallStatus.PENDING
    assert make_call_requests(sim) == []

    with django_capture_on_commit_callbacks(execute=True):
        services.resume_placement()
    assert sorted(enqueued_ids(apply_async)) == sorted([forgotten.pk, stuck.pk])


# ----------------------------------------------------------------------------- resuming


@pytest.mark.django_db
def test_an_operator_resumes_placement_and_the_waiting_calls_are_enqueued(
    sim: EsmsSimulator,
    apply_async: mock.Mock,
    announced: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    operator = get_user_model().objects.create_user("minh")
    waiting = new_call()
    past_retry = new_call("0901000001")
    age(past_retry, attempts=1, next_attempt_at=timezone.now() - dt.timedelta(seconds=5))
    # Its Celery retry is still scheduled: it comes by itself, a second message is not sent.
    future_retry = new_call("0901000002")
    age(future_retry, attempts=1, next_attempt_at=timezone.now() + dt.timedelta(minutes=5))
    held = services.create_calls([{"phone": "0901000003", "template_id": "rec-1"}], enqueue=False)
    assert held[0].campaign is not None
    services.pause_campaign(held[0].campaign)
    accepted = new_call("0901000004")
    age(accepted, status=CallStatus.ACCEPTED)
    pause = pause_for("101")

    with django_capture_on_commit_callbacks(execute=True):
        resumed = services.resume_placement(by=ResumedBy.OPERATOR, user=operator)

    assert resumed is not None
    assert resumed.pk == pause.pk
    pause.refresh_from_db()
    assert (pause.is_open, pause.ended_by, pause.ended_by_user) == (
        False,
        ResumedBy.OPERATOR,
        operator,
    )
    assert pause.ended_at is not None
    assert [(sender, p.pk) for sender, p in announced["resumed"]] == [(AccountPause, pause.pk)]
    assert announced["resumed"][0][1].ended_by == ResumedBy.OPERATOR
    assert sorted(enqueued_ids(apply_async)) == sorted([waiting.pk, past_retry.pk])
    assert services.resume_placement() is None  # not paused any more: nothing happens
    assert len(announced["resumed"]) == 1
    assert services.place_call(waiting.pk).status == CallStatus.ACCEPTED


@pytest.mark.django_db
def test_a_refusal_sent_before_the_resume_opens_no_second_pause(
    account: Account,
    apply_async: mock.Mock,
    announced: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    late = in_flight(new_call(OTHER_PHONE))  # sent before the pause, answered after the resume
    pause_for("103")
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_placement()
    account.refuse("103")

    with django_capture_on_commit_callbacks(execute=True):
        assert placing._place_claimed(late, 3).status == CallStatus.PENDING

    # The answer is about the balance before the resume: no second pause and no second mail.
    assert AccountPause.objects.filter(active=True).count() == 0
    assert announced["paused"] == []
    assert mail.outbox == []
    # The resume did not see it pending: it is enqueued again.
    assert enqueued_ids(apply_async) == [late.pk]

    # A request sent after the resume that meets 103 pauses again.
    fresh = new_call()
    with django_capture_on_commit_callbacks(execute=True):
        services.place_call(fresh.pk)
    assert AccountPause.objects.get(active=True).call_id == fresh.pk
    assert len(mail.outbox) == 1


# ----------------------------------------------------------------------------- the probe


@pytest.mark.django_db
def test_the_balance_probe_asks_at_most_once_per_interval(
    sim: EsmsSimulator, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, BALANCE_PROBE_INTERVAL=300, RESUME_BALANCE=10000)
    sim.balance = Decimal(9999)
    pause_for("103")
    start = timezone.now()

    probed = [services.probe_balance(now=start + dt.timedelta(seconds=s)) for s in range(0, 60, 6)]

    assert balance_requests(sim) == 1
    assert [p is not None for p in probed] == [True] + [False] * 9
    pause = AccountPause.objects.get()
    assert (pause.is_open, pause.last_balance, pause.last_probe_error) == (
        True,
        Decimal(9999),
        "",
    )
    assert pause.last_probe_at is not None

    sim.balance = Decimal(10000)  # topped up: exactly the threshold
    with django_capture_on_commit_callbacks(execute=True):
        for seconds in (299, 299):
            services.probe_balance(now=start + dt.timedelta(seconds=seconds))
        assert balance_requests(sim) == 1  # the interval has not passed yet
        services.probe_balance(now=start + dt.timedelta(seconds=300))
        services.probe_balance(now=start + dt.timedelta(seconds=301))
    assert balance_requests(sim) == 2
    pause.refresh_from_db()
    assert (pause.is_open, pause.ended_by, pause.last_balance) == (
        False,
        ResumedBy.BALANCE_PROBE,
        Decimal(10000),
    )
    # Not paused any more: no probe at all.
    services.probe_balance(now=start + dt.timedelta(hours=1))
    assert balance_requests(sim) == 2


@pytest.mark.django_db
def test_a_failed_probe_records_its_error_without_the_keys(
    sim: EsmsSimulator, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, BACKEND=LOCMEM_BACKEND)
    register_secret("test-secret")

    def fails(self: LocmemBackend) -> Any:
        raise EsmsConnectionError(
            "no route, SecretKey=test-secret sent to GetBalance", endpoint=GET_BALANCE
        )

    monkeypatch.setattr(LocmemBackend, "get_balance", fails)
    pause_for("103")

    assert services.probe_balance() is not None

    pause = AccountPause.objects.get()
    assert pause.is_open
    assert "no route" in pause.last_probe_error
    assert "test-secret" not in pause.last_probe_error
    assert pause.last_probe_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["101", "102", "140"])
def test_no_probe_is_made_unless_paused_for_the_balance(
    code: str, sim: EsmsSimulator, settings: Any
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, BALANCE_PROBE_INTERVAL=10)
    pause_for(code)
    start = timezone.now()

    probes = [services.probe_balance(now=start + dt.timedelta(minutes=m)) for m in range(5)]

    assert probes == [None] * 5
    assert balance_requests(sim) == 0
    assert AccountPause.objects.get().is_open  # only an operator resumes it
    services.sweep()
    assert balance_requests(sim) == 0


# ----------------------------------------------------------------------------- secrets


@pytest.mark.django_db
def test_the_keys_never_reach_the_pause_the_call_the_mail_or_the_log(
    sim: EsmsSimulator,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, API_KEY="my-api-key-1234", SECRET_KEY="my-secret-5678")
    settings.ADMINS = ADMINS
    for secret in (sim.api_key, sim.secret_key):  # the account's keys
        register_secret(secret)
    # This account echoes the keys it was sent, and its own, in its refusal.
    monkeypatch.setitem(
        sim_protocol.ERROR_MESSAGES,
        "101",
        f"Authorize Failed: ApiKey=my-api-key-1234 SecretKey my-secret-5678 "
        f"(expected {sim.api_key}/{sim.secret_key})",
    )
    call = new_call()

    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        services.place_call(call.pk)

    pause = AccountPause.objects.get()
    call.refresh_from_db()
    assert "Authorize Failed" in pause.message
    stored = [pause.message, call.last_error_message, mail.outbox[0].subject, mail.outbox[0].body]
    logged = [record.getMessage() for record in caplog.records]
    for secret in ("my-api-key-1234", "my-secret-5678", sim.api_key, sim.secret_key):
        assert [text for text in stored + logged if secret in text] == []


@pytest.mark.django_db
def test_the_pause_masks_the_keys_whoever_hands_it_the_message(settings: Any) -> None:
    settings.ADMINS = ADMINS
    register_secret("my-secret-5678")
    call = new_call()

    pause = services.pause_placement(
        "101", "eSMS said: ApiKey=my-api-key-1234&SecretKey=x, keys my-secret-5678", call
    )

    assert pause is not None
    stored = AccountPause.objects.get().message
    assert "eSMS said" in stored
    assert "my-api-key-1234" not in stored
    assert "my-secret-5678" not in stored
