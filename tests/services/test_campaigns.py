"""Campaigns: made by create_calls, paused, resumed, canceled and completed as one piece of work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.exceptions import CampaignStateError, EsmsInputError, EsmsTimeout
from django_esms_voice.models import Campaign, CampaignSource, VoiceCall
from django_esms_voice.purposes import Purpose
from django_esms_voice.services import placing, ratelimit
from django_esms_voice.states import CallStatus, CampaignState, Hold
from django_esms_voice.testing.simulator import EsmsSimulator
from tests.concurrency import another_session_waits_for_a_lock

from .helpers import age, batch_rows, enqueued_ids, esms_settings, make_call_requests

# No test here may reach a real broker.
pytestmark = pytest.mark.usefixtures("apply_async")


def campaign_of(count: int, name: str = "june", **kwargs: Any) -> tuple[Campaign, list[VoiceCall]]:
    """Create `count` calls as one campaign, not enqueued; return the campaign and its calls."""
    calls = services.create_calls(batch_rows(count), batch=name, enqueue=False, **kwargs)
    assert calls[0].campaign is not None
    return calls[0].campaign, calls


def status_hold(calls: list[VoiceCall]) -> list[tuple[str, str]]:
    """Return each call's (status, hold) as stored, in the order given."""
    stored = dict(
        (pk, (status, hold))
        for pk, status, hold in VoiceCall.objects.values_list("pk", "status", "hold")
    )
    return [stored[call.pk] for call in calls]


# ----------------------------------------------------------------------------- making one


@pytest.mark.django_db
def test_create_calls_makes_a_campaign_of_its_calls(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    user = get_user_model().objects.create_user("lan")
    rows = [{**row, "max_repeat": 2} for row in batch_rows(3)]

    with django_capture_on_commit_callbacks(execute=True):
        calls = services.create_calls(
            rows, batch="june-promo", source=CampaignSource.CALL_MANY, created_by=user
        )

    campaign = Campaign.objects.get()
    assert (campaign.name, campaign.kind, campaign.template_id) == ("june-promo", "record", "rec-1")
    assert (campaign.source, campaign.created_by, campaign.state) == (
        CampaignSource.CALL_MANY,
        user,
        CampaignState.RUNNING,
    )
    assert campaign.purpose == Purpose.CUSTOMER_CARE  # DEFAULT_PURPOSE
    # What every row shares, not what differs from row to row (metadata, phone).
    assert campaign.options == {"max_repeat": 2}
    assert {(c.campaign_id, c.batch, c.hold) for c in VoiceCall.objects.all()} == {
        (campaign.pk, "june-promo", Hold.NONE)
    }
    assert sorted(enqueued_ids(apply_async)) == sorted(call.pk for call in calls)


@pytest.mark.django_db
def test_create_calls_without_a_name_makes_one_up_and_takes_the_purpose() -> None:
    services.create_calls(batch_rows(2), purpose=Purpose.ADVERTISING, enqueue=False)
    campaign = Campaign.objects.get()
    assert campaign.name.startswith("calls-")
    assert (campaign.purpose, campaign.source, campaign.created_by) == (
        Purpose.ADVERTISING,
        CampaignSource.CODE,
        None,
    )


@pytest.mark.django_db
def test_calls_added_to_a_campaign_join_it(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign, first = campaign_of(2)
    rows = [{"phone": "0912000001", "template_id": "rec-1"}]

    with django_capture_on_commit_callbacks(execute=True):
        more = services.create_calls(rows, campaign=campaign, batch="ignored")
        one = services.create_call(phone="0912000002", template_id="rec-1", campaign=campaign)

    assert Campaign.objects.count() == 1
    assert set(campaign.calls.all()) == {*first, *more, one}
    assert {call.batch for call in campaign.calls.all()} == {"june"}
    assert enqueued_ids(apply_async) == [more[0].pk, one.pk]


@pytest.mark.django_db
def test_new_calls_of_a_paused_campaign_are_held_and_not_enqueued(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign, _ = campaign_of(1)
    services.pause_campaign(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        more = services.create_calls(batch_rows(3)[1:], campaign=campaign)
        one = services.create_call(phone="0912000002", template_id="rec-1", campaign=campaign)

    assert status_hold([*more, one]) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)] * 3
    assert not apply_async.called
    assert services.place_call(one.pk).skipped


@pytest.mark.django_db
def test_a_canceled_campaign_takes_no_new_call(apply_async: mock.Mock) -> None:
    campaign, _ = campaign_of(1)
    services.cancel_campaign(campaign)

    with pytest.raises(EsmsInputError, match="canceled"):
        services.create_calls(batch_rows(3)[1:], campaign=campaign)
    with pytest.raises(EsmsInputError, match="canceled"):
        services.create_call(phone="0912000002", template_id="rec-1", campaign=campaign)
    assert VoiceCall.objects.count() == 1
    assert not apply_async.called


@pytest.mark.django_db
def test_a_completed_campaign_reopens_when_calls_are_added() -> None:
    campaign, calls = campaign_of(1)
    age(calls[0], status=CallStatus.ANSWERED)
    assert services.complete_campaigns() == 1

    services.create_calls(batch_rows(2)[1:], campaign=campaign, enqueue=False)

    campaign.refresh_from_db()
    assert (campaign.state, campaign.finished_at) == (CampaignState.RUNNING, None)


# ----------------------------------------------------------------------------- pause, resume


@pytest.mark.django_db
def test_pause_holds_the_pending_calls_and_the_claim_skips_them(sim: EsmsSimulator) -> None:
    campaign, calls = campaign_of(5)
    never, timed_out, claimed, accepted, _ = calls
    age(timed_out, attempts=1, next_attempt_at=timezone.now())  # waiting for its retry
    age(claimed, status=CallStatus.SUBMITTING, attempts=1)
    age(accepted, status=CallStatus.ACCEPTED, attempts=1)
    other, _ = campaign_of(1, name="other")

    assert services.pause_campaign(campaign) == 3
    with pytest.raises(CampaignStateError, match="pause") as paused_already:
        services.pause_campaign(campaign)
    assert str(paused_already.value.message) == (
        "Only a running campaign can be paused; this one is “Paused”."
    )

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.PAUSED
    assert campaign.paused_at is not None
    held = (CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)
    assert status_hold(calls) == [
        held,
        held,
        (CallStatus.SUBMITTING, Hold.NONE),  # in flight already: it finishes
        (CallStatus.ACCEPTED, Hold.NONE),
        held,
    ]
    assert [services.place_call(call.pk).skipped for call in (never, timed_out)] == [True, True]
    assert make_call_requests(sim) == []
    assert status_hold([never, timed_out]) == [held, held]
    assert VoiceCall.objects.get(pk=never.pk).attempts == 0
    assert services.place_call(other.calls.get().pk).status == CallStatus.ACCEPTED


@pytest.mark.django_db
@pytest.mark.parametrize("state", [CampaignState.COMPLETED, CampaignState.CANCELED])
def test_only_a_running_campaign_pauses(state: str) -> None:
    campaign, calls = campaign_of(1)
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    with pytest.raises(CampaignStateError) as refused:
        services.pause_campaign(campaign)
    assert (refused.value.action, refused.value.state) == ("pause", state)
    assert campaign.state == state  # the caller's copy says why
    assert status_hold(calls) == [(CallStatus.PENDING, Hold.NONE)]


@pytest.mark.django_db
def test_resume_releases_and_enqueues_exactly_the_held_calls(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any, sim: EsmsSimulator
) -> None:
    campaign, calls = campaign_of(3)
    other, other_calls = campaign_of(1, name="other")
    services.pause_campaign(campaign)
    services.pause_campaign(other)
    unheld = services.create_call(phone="0912000009", template_id="rec-1")

    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_campaign(campaign) == 3
    with pytest.raises(CampaignStateError, match="resume"):
        services.resume_campaign(campaign)  # running already

    assert sorted(enqueued_ids(apply_async)) == sorted(call.pk for call in calls)
    campaign.refresh_from_db()
    assert (campaign.state, campaign.paused_at) == (CampaignState.RUNNING, None)
    assert status_hold(calls) == [(CallStatus.PENDING, Hold.NONE)] * 3
    assert status_hold(other_calls) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)]
    assert unheld.pk not in enqueued_ids(apply_async)
    assert services.place_call(calls[0].pk).status == CallStatus.ACCEPTED


# ----------------------------------------------------------------------------- cancel


@pytest.mark.django_db
@pytest.mark.parametrize("size", [3, 300])
def test_cancel_cancels_the_calls_never_sent_in_one_update_whatever_their_number(
    size: int,
    apply_async: mock.Mock,
    django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
    signals: dict[str, list[Any]],
) -> None:
    campaign, calls = campaign_of(size + 3)
    timed_out, claimed, accepted = calls[-3:]
    age(timed_out, attempts=1)  # eSMS may have it: resent with its RequestId, not canceled
    age(claimed, status=CallStatus.SUBMITTING, attempts=1)
    age(accepted, status=CallStatus.ACCEPTED, attempts=1)
    services.pause_campaign(campaign)

    # The campaign's UPDATE; the cancelable calls locked, then canceled in one UPDATE; the
    # held calls left (attempted ones) locked and released in one: constant in the size.
    with (
        django_assert_num_queries(9),  # and two savepoints with their releases
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.cancel_campaign(campaign) == size

    with pytest.raises(CampaignStateError, match="cancel"):
        services.cancel_campaign(campaign)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CANCELED
    assert campaign.finished_at is not None
    assert status_hold(calls) == [(CallStatus.CANCELED, Hold.NONE)] * size + [
        (CallStatus.PENDING, Hold.NONE),
        (CallStatus.SUBMITTING, Hold.NONE),
        (CallStatus.ACCEPTED, Hold.NONE),
    ]
    assert enqueued_ids(apply_async) == [timed_out.pk]  # un-held, so that it finishes
    assert len(signals["changed"]) == size
    assert {new for _, _, new, _ in signals["changed"]} == {CallStatus.CANCELED}


# ----------------------------------------------------------------------------- completing


@pytest.mark.django_db
def test_complete_campaigns_ends_running_campaigns_whose_calls_are_all_final() -> None:
    _done, done_calls = campaign_of(2, name="done")
    _busy, busy_calls = campaign_of(2, name="busy")
    paused, paused_calls = campaign_of(1, name="paused")
    for call in [*done_calls, busy_calls[0], *paused_calls]:
        age(call, status=CallStatus.ANSWERED)
    age(done_calls[1], status=CallStatus.CANCELED)
    services.pause_campaign(paused)

    assert services.complete_campaigns() == 1
    assert services.complete_campaigns() == 0

    states = dict(Campaign.objects.values_list("name", "state"))
    assert states == {
        "done": CampaignState.COMPLETED,
        "busy": CampaignState.RUNNING,
        "paused": CampaignState.PAUSED,
    }
    assert Campaign.objects.get(name="done").finished_at is not None


@pytest.mark.django_db
def test_the_sweep_completes_campaigns() -> None:
    _, calls = campaign_of(1)
    age(calls[0], status=CallStatus.NO_ANSWER)
    assert services.sweep().completed == 1
    assert Campaign.objects.get().state == CampaignState.COMPLETED


# ----------------------------------------------------------------------------- retries


@pytest.mark.django_db
def test_retries_stay_in_the_campaign(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign, calls = campaign_of(3)
    for call in calls:
        age(call, status=CallStatus.REJECTED, attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        one = services.retry_call(calls[0])
        many = services.retry_calls(VoiceCall.objects.filter(pk__in=[c.pk for c in calls[1:]]))

    assert {retry.campaign_id for retry in [one, *many.created]} == {campaign.pk}
    assert {retry.batch for retry in [one, *many.created]} == {"june"}
    assert len(enqueued_ids(apply_async)) == 3


@pytest.mark.django_db
def test_retries_into_a_paused_campaign_are_held(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign, calls = campaign_of(3)
    for call in calls:
        age(call, status=CallStatus.REJECTED, attempts=1)
    services.pause_campaign(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        one = services.retry_call(calls[0])
        many = services.retry_calls(VoiceCall.objects.filter(pk__in=[c.pk for c in calls[1:]]))

    retries = [one, *many.created]
    assert status_hold(retries) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)] * 3
    assert not apply_async.called
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_campaign(campaign) == 3
    assert sorted(enqueued_ids(apply_async)) == sorted(retry.pk for retry in retries)


@pytest.mark.django_db
def test_calls_of_a_canceled_campaign_are_not_retried(apply_async: mock.Mock) -> None:
    campaign, calls = campaign_of(2)
    services.cancel_campaign(campaign)
    for call in calls:
        age(call, status=CallStatus.REJECTED, attempts=1)

    with pytest.raises(EsmsInputError, match="canceled"):
        services.retry_call(calls[0])
    report = services.retry_calls(VoiceCall.objects.filter(pk=calls[1].pk))

    assert report.created == []
    assert [(call.pk, "canceled" in str(exc)) for call, exc in report.refused] == [
        (calls[1].pk, True)
    ]
    assert VoiceCall.objects.count() == 2


# ----------------------------------------------------------------------------- in flight


def pausing_during_send(
    monkeypatch: pytest.MonkeyPatch, act: Callable[[], object], answer: Exception
) -> None:
    """Make the next request run act() (a pause, a cancel) while in flight, then fail."""
    original = placing._send

    def send(call: VoiceCall) -> Any:
        monkeypatch.setattr(placing, "_send", original)  # the following requests are sent
        act()
        raise answer

    monkeypatch.setattr(placing, "_send", send)


@pytest.mark.django_db
def test_a_call_given_back_after_its_campaign_paused_waits_held(
    sim: EsmsSimulator,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, MAX_ATTEMPTS=3)
    campaign, (call,) = campaign_of(1)
    pausing_during_send(
        monkeypatch, lambda: services.pause_campaign(campaign), EsmsTimeout("x", endpoint="y")
    )

    result = services.place_call(call.pk)

    # Back to pending for its retry, but held: the paused campaign's calls are not sent.
    assert result.status == CallStatus.PENDING
    assert status_hold([call]) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)]
    assert services.place_call(call.pk).skipped  # its retry
    assert make_call_requests(sim) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_campaign(campaign) == 1
    assert enqueued_ids(apply_async) == [call.pk]


@pytest.mark.django_db
def test_a_slot_of_the_rate_limit_is_given_back_when_the_claim_is_refused(
    sim: EsmsSimulator, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ESMS_VOICE = esms_settings(sim, RATE_LIMIT=10)  # one call per 0.1 s window
    cache.clear()
    # The rate limiter's clock stands still inside one window.
    clock = SimpleNamespace(time=lambda: 1_700_000_000.05, sleep=lambda seconds: None)
    monkeypatch.setattr(ratelimit, "time", clock)
    campaign, (held,) = campaign_of(1)
    services.pause_campaign(campaign)

    assert services.place_call(held.pk).skipped

    # The window's one slot is free again for a call that is sent; then none is left.
    assert ratelimit.acquire(10, max_wait=0) == 0.0
    with pytest.raises(TimeoutError):
        ratelimit.acquire(10, max_wait=0)


# ----------------------------------------------------------------------------- races


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start target() on a thread with its own database connection; collect its exceptions."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def while_uncommitted(act: Callable[[], object]) -> tuple[threading.Event, threading.Thread]:
    """Run act() in a transaction on another connection, left open until the event is set."""
    done, release = threading.Event(), threading.Event()

    def hold_open() -> None:
        with transaction.atomic():
            act()
            done.set()
            release.wait(10)

    thread, _ = in_thread(hold_open)
    assert done.wait(10)
    return release, thread


def race(
    first: Callable[[], object], second: Callable[[], object], *, second_waits: bool
) -> list[BaseException]:
    """Run first() uncommitted, then second(); commit first once second waits (or finished)."""
    release, holder = while_uncommitted(first)
    runner, errors = in_thread(second)
    if second_waits:
        assert another_session_waits_for_a_lock(), "the second did not wait for the first"
    else:
        runner.join(10)
    release.set()
    holder.join(10)
    runner.join(10)
    assert not holder.is_alive()
    assert not runner.is_alive()
    return errors


def claimed(call: VoiceCall) -> VoiceCall:
    """Mark a call claimed by a worker (in flight), as the claim does."""
    age(call, status=CallStatus.SUBMITTING, attempts=1, claimed_at=timezone.now())
    call.refresh_from_db()
    return call


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize("move", ["pause", "cancel"])
def test_a_call_given_back_while_its_campaign_pauses_or_cancels_is_held_or_canceled(
    move: str, apply_async: mock.Mock
) -> None:
    campaign, (call,) = campaign_of(1)
    in_flight = claimed(call)
    act = services.pause_campaign if move == "pause" else services.cancel_campaign

    # eSMS refused it for the account: given back as never attempted, while the pause (or
    # cancel) is not committed yet. Without the campaign's lock the release sees it running.
    errors = race(
        lambda: act(campaign),
        lambda: placing._release(in_flight, code="103", message="low", attempts=0),
        second_waits=True,
    )

    assert errors == []
    expected = {
        "pause": (CallStatus.PENDING, Hold.CAMPAIGN_PAUSED),
        "cancel": (CallStatus.CANCELED, Hold.NONE),
    }
    assert status_hold([call]) == [expected[move]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_calls_created_while_a_pause_commits_are_held(apply_async: mock.Mock) -> None:
    campaign, first = campaign_of(1)

    added: list[VoiceCall] = []
    errors = race(
        lambda: services.pause_campaign(campaign),
        lambda: added.extend(services.create_calls(batch_rows(3)[1:], campaign=campaign)),
        second_waits=True,
    )
    assert errors == []
    assert status_hold([*first, *added]) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)] * 3
    assert not apply_async.called

    # The other way round: the pause waits for the creating transaction, then holds its calls.
    services.resume_campaign(campaign)
    later: list[VoiceCall] = []
    errors = race(
        lambda: later.extend(services.create_calls(batch_rows(5)[3:], campaign=campaign)),
        lambda: services.pause_campaign(campaign),
        second_waits=True,
    )
    assert errors == []
    assert status_hold(later) == [(CallStatus.PENDING, Hold.CAMPAIGN_PAUSED)] * 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_a_campaign_calls_are_being_added_to_is_not_completed(apply_async: mock.Mock) -> None:
    campaign, (call,) = campaign_of(1)
    age(call, status=CallStatus.ANSWERED)

    completed: list[int] = []
    errors = race(
        lambda: services.create_calls(batch_rows(2)[1:], campaign=campaign, enqueue=False),
        lambda: completed.append(services.complete_campaigns()),
        second_waits=False,
    )

    assert errors == []
    assert completed == [0]
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING
    assert services.complete_campaigns() == 0  # its new call is pending


@pytest.mark.django_db
def test_complete_campaigns_of_some_campaigns_leaves_the_others() -> None:
    shown, shown_calls = campaign_of(1, name="shown")
    _other, other_calls = campaign_of(1, name="other")
    busy, busy_calls = campaign_of(2, name="busy")
    for call in [*shown_calls, *other_calls, busy_calls[0]]:
        age(call, status=CallStatus.NO_ANSWER)
    age(busy_calls[1], status=CallStatus.IN_PROGRESS)  # still with eSMS

    assert services.complete_campaigns(campaign_ids=[shown.pk, busy.pk]) == 1

    states = dict(Campaign.objects.values_list("name", "state"))
    assert states == {
        "shown": CampaignState.COMPLETED,
        "other": CampaignState.RUNNING,  # the sweep's, or its own page's
        "busy": CampaignState.RUNNING,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_a_campaign_calls_are_being_added_to_is_not_completed_by_its_page(
    apply_async: mock.Mock,
) -> None:
    campaign, (call,) = campaign_of(1)
    age(call, status=CallStatus.ANSWERED)

    completed: list[int] = []
    errors = race(
        lambda: services.create_calls(batch_rows(2)[1:], campaign=campaign, enqueue=False),
        lambda: completed.append(services.complete_campaigns(campaign_ids=[campaign.pk])),
        second_waits=False,
    )

    assert errors == []
    assert completed == [0]  # and it did not wait for the new calls' transaction
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING
    assert services.complete_campaigns(campaign_ids=[campaign.pk]) == 0  # its new call
