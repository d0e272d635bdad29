"""Calling windows at creation, at claim and in the sweep: a call outside its window waits."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import VoiceCall
from django_esms_voice.purposes import Purpose
from django_esms_voice.services import placing
from django_esms_voice.states import CallStatus, Hold
from django_esms_voice.testing.simulator import EsmsSimulator

from .helpers import batch_rows, enqueued_ids, esms_settings, make_call_requests

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_async")]

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PHONE = "0901888484"


def today() -> dt.date:
    """Today in Vietnam."""
    return timezone.now().astimezone(VN).date()


def vn(day: dt.date, hour: int) -> dt.datetime:
    """A moment of Vietnam time."""
    return dt.datetime.combine(day, dt.time(hour), VN)


def advertising_window(settings: Any, sim: EsmsSimulator, *, open_now: bool) -> None:
    """Advertising calls 08:00-17:00, today closed (a holiday) or every hour of today open."""
    window = (
        {"start": "00:00", "end": "24:00"}
        if open_now
        else {"start": "08:00", "end": "17:00", "closed_dates": [today().isoformat()]}
    )
    settings.ESMS_VOICE = esms_settings(sim, CALLING_WINDOWS={"advertising": window})


def stored(call: VoiceCall) -> VoiceCall:
    """The call as stored now."""
    return VoiceCall.objects.get(pk=call.pk)


def test_an_advertising_call_outside_its_window_waits_held_until_it_opens(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    advertising_window(settings, sim, open_now=False)
    with django_capture_on_commit_callbacks(execute=True):
        ad = services.create_call(phone=PHONE, template_id="rec-1", purpose=Purpose.ADVERTISING)
        care = services.create_call(phone=PHONE, template_id="rec-1")  # customer care: any time

    ad = stored(ad)
    assert (ad.status, ad.hold, ad.purpose) == (
        CallStatus.PENDING,
        Hold.CALLING_WINDOW,
        "advertising",
    )
    assert ad.next_attempt_at == vn(today() + dt.timedelta(days=1), 8)
    assert (stored(care).hold, stored(care).purpose) == (Hold.NONE, "customer_care")
    assert enqueued_ids(apply_async) == [care.pk]  # the held call is not queued


def test_a_campaigns_calls_take_its_purpose_and_wait_for_its_window(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    advertising_window(settings, sim, open_now=False)
    with django_capture_on_commit_callbacks(execute=True):
        calls = services.create_calls(batch_rows(3), batch="tet", purpose=Purpose.ADVERTISING)

    assert {(c.purpose, c.hold) for c in VoiceCall.objects.all()} == {
        ("advertising", Hold.CALLING_WINDOW)
    }
    assert calls[0].campaign is not None
    assert calls[0].campaign.purpose == "advertising"
    assert enqueued_ids(apply_async) == []


def test_a_senddate_outside_the_window_is_refused_and_one_inside_is_left_to_esms(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    advertising_window(settings, sim, open_now=False)
    tomorrow = today() + dt.timedelta(days=1)
    with pytest.raises(EsmsInputError) as refused:
        services.create_call(
            phone=PHONE, template_id="rec-1", purpose="advertising", send_at=vn(tomorrow, 20)
        )
    assert refused.value.field == "send_at"
    assert "calling window (08:00\u201317:00)" in str(refused.value)
    assert f"opens next at {tomorrow + dt.timedelta(days=1):%Y-%m-%d} " in str(refused.value)
    with pytest.raises(services.BulkCallError) as bulk:  # call-many and the API: per row
        services.create_calls(
            [{"phone": PHONE, "template_id": "rec-1", "send_at": vn(tomorrow, 6)}],
            purpose="advertising",
        )
    assert list(bulk.value.errors) == [1]
    assert not VoiceCall.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        call = services.create_call(
            phone=PHONE, template_id="rec-1", purpose="advertising", send_at=vn(tomorrow, 9)
        )
    assert stored(call).hold == Hold.NONE  # eSMS places it at 09:00 tomorrow
    assert enqueued_ids(apply_async) == [call.pk]
    assert placing.place_call(call.pk).status == CallStatus.ACCEPTED  # the window is closed now


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(EsmsInputError, match="Unknown purpose “promo”") as refused:
        services.create_call(phone=PHONE, template_id="rec-1", purpose="promo")
    assert refused.value.field == "purpose"


def test_a_call_whose_window_closed_in_the_queue_is_not_sent_and_waits(
    sim: EsmsSimulator, settings: Any
) -> None:
    advertising_window(settings, sim, open_now=True)
    call = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    assert stored(call).hold == Hold.NONE
    advertising_window(settings, sim, open_now=False)  # 17:00 came while it waited

    result = placing.place_call(call.pk)

    assert result.skipped
    assert make_call_requests(sim) == []
    call = stored(call)
    assert (call.status, call.hold, call.attempts) == (CallStatus.PENDING, Hold.CALLING_WINDOW, 0)
    assert call.next_attempt_at == vn(today() + dt.timedelta(days=1), 8)


def test_the_sweep_places_the_calls_whose_window_has_opened(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    advertising_window(settings, sim, open_now=False)
    waiting = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    later = services.create_call(phone="0901888485", template_id="rec-1", purpose="advertising")
    now = timezone.now()
    VoiceCall.objects.filter(pk=waiting.pk).update(next_attempt_at=now - dt.timedelta(seconds=1))
    advertising_window(settings, sim, open_now=True)  # 08:00 has come

    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep(now=now)

    assert report.requeued == [waiting.pk]
    assert enqueued_ids(apply_async) == [waiting.pk]
    assert (stored(waiting).hold, stored(later).hold) == (Hold.NONE, Hold.CALLING_WINDOW)
    assert placing.place_call(waiting.pk).status == CallStatus.ACCEPTED
    assert len(make_call_requests(sim)) == 1


def test_a_pause_holds_the_calls_waiting_for_the_window_and_a_resume_rechecks_it(
    sim: EsmsSimulator,
    settings: Any,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    advertising_window(settings, sim, open_now=False)
    calls = services.create_calls(batch_rows(2), purpose="advertising")
    campaign = calls[0].campaign
    assert campaign is not None
    assert services.pause_campaign(campaign) == 2
    assert set(VoiceCall.objects.values_list("hold", flat=True)) == {Hold.CAMPAIGN_PAUSED}
    # The window opening while the campaign is paused releases nothing.
    VoiceCall.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    assert services.sweep().requeued == []

    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_campaign(campaign) == 2
    for call in calls:  # still outside the window: the claim holds them again
        assert placing.place_call(call.pk).skipped
    assert set(VoiceCall.objects.values_list("hold", flat=True)) == {Hold.CALLING_WINDOW}
    assert make_call_requests(sim) == []


def test_a_retry_keeps_the_purpose_and_waits_for_the_window(
    sim: EsmsSimulator, settings: Any
) -> None:
    advertising_window(settings, sim, open_now=True)
    call = services.create_call(phone=PHONE, template_id="rec-1", purpose="advertising")
    VoiceCall.objects.filter(pk=call.pk).update(status=CallStatus.REJECTED)
    advertising_window(settings, sim, open_now=False)

    retry = services.retry_call(stored(call), enqueue=False)
    many = services.retry_calls(VoiceCall.objects.filter(pk=call.pk))  # already retried

    assert (retry.purpose, stored(retry).hold) == ("advertising", Hold.CALLING_WINDOW)
    assert many.created == []
