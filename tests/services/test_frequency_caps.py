"""Frequency caps: at creation a row over its number's cap is refused; at claim, under a lock."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.exceptions import FrequencyCapped
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.services import placing
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator

from .helpers import esms_settings, make_call_requests

pytestmark = [pytest.mark.usefixtures("apply_async")]

PHONE, OTHER = "0901888484", "0901888485"
AD = {"template_id": "rec-1", "purpose": "advertising"}
#: Advertising at any hour here: these tests are about the cap, not the calling window.
ANY_TIME = {"CALLING_WINDOWS": {"advertising": None}}


@pytest.fixture(autouse=True)
def _any_time(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, **ANY_TIME)


def no_caps(settings: Any, sim: EsmsSimulator) -> None:
    """Calls made as if no cap applied (before the setting, or agreed)."""
    settings.ESMS_VOICE = esms_settings(sim, FREQUENCY_CAPS={"advertising": None}, **ANY_TIME)


def capped(settings: Any, sim: EsmsSimulator) -> None:
    """The preset cap again: one advertising call per number per 24 hours."""
    settings.ESMS_VOICE = esms_settings(sim, **ANY_TIME)


@pytest.mark.django_db
def test_a_second_advertising_call_to_a_number_within_24_hours_is_refused(
    sim: EsmsSimulator,
) -> None:
    first = services.create_call(phone=PHONE, **AD)
    with pytest.raises(FrequencyCapped, match=r"its 1 call\(s\) of this purpose in 24 h") as capped:
        services.create_call(phone="+84 90 188 8484", **AD)
    services.create_call(phone=PHONE, template_id="rec-1")  # customer care: no cap
    services.create_call(phone=OTHER, **AD)

    assert capped.value.field == "phone"
    # Sent 23 hours ago it still counts; 25 hours ago it no longer does.
    sent = timezone.now() - dt.timedelta(hours=23)
    VoiceCall.objects.filter(pk=first.pk).update(status=CallStatus.ANSWERED, submitted_at=sent)
    with pytest.raises(FrequencyCapped):
        services.create_call(phone=PHONE, **AD)
    VoiceCall.objects.filter(pk=first.pk).update(submitted_at=sent - dt.timedelta(hours=2))
    assert services.create_call(phone=PHONE, **AD).pk


@pytest.mark.django_db
def test_call_many_refuses_the_rows_over_the_cap_one_by_one(sim: EsmsSimulator) -> None:
    rows = [{"phone": p, "template_id": "rec-1"} for p in (PHONE, OTHER, PHONE)]

    with pytest.raises(services.BulkCallError) as refused:
        services.create_calls(rows, purpose="advertising", allow_repeats=True)
    checked = services.check_calls([{**row, "purpose": "advertising"} for row in rows],
                                   allow_repeats=True)  # fmt: skip

    assert list(refused.value.errors) == [3]
    assert isinstance(refused.value.errors[3], FrequencyCapped)
    assert [row.valid for row in checked] == [True, True, False]
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_a_campaign_sets_its_own_number_or_none(sim: EsmsSimulator) -> None:
    rows = [{"phone": PHONE, "template_id": "rec-1"}] * 3
    agreed = Campaign.objects.create(
        name="agreed", kind="record", purpose="advertising", frequency_cap=0
    )
    twice = Campaign.objects.create(
        name="twice", kind="record", purpose="advertising", frequency_cap=2
    )

    assert len(services.create_calls(rows, campaign=agreed, allow_repeats=True)) == 3
    VoiceCall.objects.all().delete()
    with pytest.raises(services.BulkCallError) as refused:
        services.create_calls(rows, campaign=twice, allow_repeats=True)
    assert list(refused.value.errors) == [3]
    assert len(services.create_calls(rows[:2], campaign=twice, allow_repeats=True)) == 2


@pytest.mark.django_db
def test_at_claim_a_call_over_the_cap_is_canceled_never_sent(
    sim: EsmsSimulator, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    no_caps(settings, sim)
    first = services.create_call(phone=PHONE, **AD)
    second = services.create_call(phone=PHONE, **AD)
    capped(settings, sim)  # the cap applies again

    with django_capture_on_commit_callbacks(execute=True):
        assert placing.place_call(first.pk).status == CallStatus.ACCEPTED
        assert placing.place_call(second.pk).skipped

    second.refresh_from_db()
    assert (second.status, second.last_error_code) == (CallStatus.CANCELED, "frequency_capped")
    assert "in 24 h" in second.last_error_message
    assert [r.params["Phone"] for r in make_call_requests(sim)] == [PHONE]


@pytest.mark.django_db
def test_at_claim_an_attempted_call_over_the_cap_is_given_up_not_looped(
    sim: EsmsSimulator, settings: Any
) -> None:
    no_caps(settings, sim)
    first = services.create_call(phone=PHONE, **AD)
    second = services.create_call(phone=PHONE, **AD)
    # The second's first attempt failed (eSMS may have it): it waits to be sent again.
    VoiceCall.objects.filter(pk=second.pk).update(attempts=1)
    capped(settings, sim)

    assert placing.place_call(first.pk).status == CallStatus.ACCEPTED
    assert placing.place_call(second.pk).skipped

    second.refresh_from_db()
    assert (second.status, second.last_error_code) == (CallStatus.ERROR, "frequency_capped")
    assert "eSMS may have placed an earlier attempt" in second.last_error_message
    assert [r.params["Phone"] for r in make_call_requests(sim)] == [PHONE]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_workers_claiming_calls_to_one_number_at_once_place_at_most_the_cap(
    sim: EsmsSimulator, settings: Any
) -> None:
    no_caps(settings, sim)
    numbers = [f"09018884{n:02d}" for n in range(6)]
    calls = [services.create_call(phone=p, **AD) for p in numbers for _ in range(3)]
    capped(settings, sim)
    sim.latency = 0.3  # the first call of a number is still with eSMS when the others claim
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def worker(call_id: int) -> None:
        try:
            start.wait(timeout=10)
            placing.place_call(call_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(c.pk,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    sent = [r.params["Phone"] for r in make_call_requests(sim)]
    assert sorted(sent) == numbers  # one call per number, 18 claimed at once
    statuses = list(VoiceCall.objects.values_list("status", flat=True))
    assert statuses.count(CallStatus.ACCEPTED) == len(numbers)
    assert statuses.count(CallStatus.CANCELED) == 2 * len(numbers)
