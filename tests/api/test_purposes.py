"""A call's purpose through the API: given, shown, filtered, and its calling window applied."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_esms_voice.models import VoiceCall
from django_esms_voice.states import Hold
from tests.api.helpers import CALLS, OTHER, PHONE, SETTINGS, batch_body, client_for

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(autouse=True)
def _closed_today(settings: Any) -> None:
    """Advertising calls 08:00-17:00, but not today (a public holiday)."""
    today = timezone.now().astimezone(VN).date()
    window = {"start": "08:00", "end": "17:00", "closed_dates": [today.isoformat()]}
    settings.ESMS_VOICE = {**SETTINGS, "CALLING_WINDOWS": {"advertising": window}}


def tomorrow_at(hour: int) -> dt.datetime:
    """Tomorrow at this hour, Vietnam time."""
    day = timezone.now().astimezone(VN).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), VN)


def test_an_advertising_call_is_accepted_and_waits_for_its_window(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    api = client_for(placer)
    with django_capture_on_commit_callbacks(execute=True):
        ad = api.post(
            CALLS, {"phone": PHONE, "template_id": "rec-1", "purpose": "advertising"}, format="json"
        )
        care = api.post(CALLS, {"phone": OTHER, "template_id": "rec-1"}, format="json")

    assert ad.status_code == care.status_code == 201
    assert (ad.data["purpose"], ad.data["hold"]) == ("advertising", Hold.CALLING_WINDOW)
    assert (care.data["purpose"], care.data["hold"]) == ("customer_care", Hold.NONE)
    assert [c.args[0] for c in apply_async.call_args_list] == [
        (VoiceCall.objects.get(phone=OTHER).pk,)
    ]
    listed = api.get(CALLS, {"purpose": "advertising"}).data["results"]
    assert [row["uuid"] for row in listed] == [ad.data["uuid"]]
    assert api.get(CALLS, {"purpose": "spam"}).status_code == 400


def test_a_senddate_outside_the_window_is_refused_on_its_field(placer: User) -> None:
    api = client_for(placer)
    body = {"phone": PHONE, "template_id": "rec-1", "purpose": "advertising"}

    one = api.post(CALLS, {**body, "send_at": tomorrow_at(18).isoformat()}, format="json")
    batch = batch_body(PHONE, OTHER, purpose="advertising")
    batch["calls"][1]["send_at"] = tomorrow_at(7).isoformat()
    many = api.post(CALLS, batch, format="json")
    ok = api.post(CALLS, {**body, "send_at": tomorrow_at(9).isoformat()}, format="json")

    assert one.status_code == 400
    assert "calling window (08:00\u201317:00)" in str(one.data["send_at"][0])
    assert many.status_code == 400
    assert list(many.data["calls"]) == ["1"]  # the second row, on its field
    assert "send_at" in many.data["calls"]["1"]
    assert ok.status_code == 201, ok.data
    assert ok.data["hold"] == Hold.NONE  # eSMS places it at 09:00
    assert VoiceCall.objects.count() == 1
