"""The purpose in the admin: chosen in call-many and the add form, filtered, its window shown."""

from __future__ import annotations

from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from django_esms_voice import services
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.states import Hold
from tests.admin.helpers import CALL_MANY, OTHER, PHONE, changelist_url, many_data

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(autouse=True)
def _closed_today(settings: Any) -> None:
    """Advertising calls 08:00-17:00, but not today (a public holiday)."""
    today = timezone.now().astimezone(VN).date()
    window = {"start": "08:00", "end": "17:00", "closed_dates": [today.isoformat()]}
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "CALLING_WINDOWS": {"advertising": window}}
    settings.TIME_ZONE = "Asia/Ho_Chi_Minh"


def test_call_many_makes_an_advertising_campaign_whose_calls_wait_for_the_window(
    op: Client, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    url = reverse(CALL_MANY)
    form = op.get(url).content.decode()
    assert 'name="purpose"' in form
    preview = op.post(url, many_data(numbers=f"{PHONE}\n{OTHER}", purpose="advertising"))
    with django_capture_on_commit_callbacks(execute=True):
        op.post(url, {"payload": preview.context["payload"]})

    assert Campaign.objects.get().purpose == "advertising"
    assert set(VoiceCall.objects.values_list("purpose", "hold")) == {
        ("advertising", Hold.CALLING_WINDOW)
    }
    assert apply_async.call_count == 0  # nothing is sent before the window opens
    tomorrow = (timezone.now().astimezone(VN) + timezone.timedelta(days=1)).date()
    listing = op.get(changelist_url()).content.decode()
    assert f"Waiting for the calling window, opens at 08:00 on {tomorrow:%m/%d/%Y}" in listing
    with translation.override("vi"):
        listing = op.get(changelist_url(), HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert "Đang chờ khung giờ gọi, mở lúc 08:00 ngày" in listing


def test_the_call_list_filters_by_purpose(op: Client) -> None:
    services.create_call(phone=PHONE, template_id="1234", purpose="advertising")
    services.create_call(phone=OTHER, template_id="1234", purpose="transactional")

    response = op.get(changelist_url(purpose__exact="transactional"))

    assert [c.phone for c in response.context["cl"].result_list] == [OTHER]
