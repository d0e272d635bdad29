"""A campaign's calls per number in the admin: set in call-many, applied, shown; policy cancels."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice import services
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import CALL_MANY, OTHER, PHONE, THIRD, campaign_page, many_data

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


@pytest.fixture(autouse=True)
def _any_time(settings: Any) -> None:
    """Advertising at any hour: these tests are about the cap, not the calling window."""
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "CALLING_WINDOWS": {"advertising": None}}


def text(html: bytes) -> str:
    """The page's words, tags left out."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.decode())).split())


def test_call_many_sets_the_campaigns_calls_per_number_and_its_rows_are_checked_with_it(
    op: Client, django_capture_on_commit_callbacks: Any
) -> None:
    services.create_call(phone=THIRD, template_id="1234", purpose="advertising")
    url = reverse(CALL_MANY)
    assert 'name="frequency_cap"' in op.get(url).content.decode()

    # The purpose's cap (one a day): the number called already is refused, with why.
    preview = op.post(url, many_data(numbers=f"{THIRD}\n{OTHER}", purpose="advertising"))
    assert [row.line for row in preview.context["invalid"]] == [1]
    assert "its 1 call(s) of this purpose in 24 h" in preview.context["invalid"][0].error
    assert "Purpose: Advertising; at most 1 call per number in 24 h." in text(preview.content)

    # Two calls per number: both rows pass, and the campaign keeps its number.
    preview = op.post(
        url, many_data(numbers=f"{THIRD}\n{OTHER}", purpose="advertising", frequency_cap="2")
    )
    assert preview.context["invalid"] == []
    assert "Purpose: Advertising; at most 2 calls per number in 24 h." in text(preview.content)
    with django_capture_on_commit_callbacks(execute=True):
        op.post(url, {"payload": preview.context["payload"]})
    made = Campaign.objects.get(calls__phone=OTHER)
    assert (made.purpose, made.frequency_cap) == ("advertising", 2)
    assert VoiceCall.objects.filter(campaign=made).count() == 2


def test_the_preview_says_the_purpose_and_cap_in_vietnamese(op: Client) -> None:
    data = many_data(numbers=OTHER, purpose="advertising", frequency_cap="0")
    with translation.override("vi"):
        preview = op.post(reverse(CALL_MANY), data, HTTP_ACCEPT_LANGUAGE="vi")
        customer = op.post(reverse(CALL_MANY), many_data(numbers=OTHER), HTTP_ACCEPT_LANGUAGE="vi")
    assert "Mục đích: Quảng cáo; không giới hạn số cuộc gọi cho mỗi số." in text(preview.content)
    assert "Mục đích: Chăm sóc khách hàng" in text(customer.content)


def test_a_negative_cap_is_refused_on_its_field(op: Client) -> None:
    response = op.post(reverse(CALL_MANY), many_data(numbers=OTHER, frequency_cap="-1"))
    assert "frequency_cap" in response.context["form"].errors


def test_the_campaign_page_shows_its_cap(runner: Client) -> None:
    own = Campaign.objects.create(
        name="own", kind="record", template_id="1", purpose="advertising", frequency_cap=3
    )
    preset = Campaign.objects.create(name="preset", kind="record", purpose="advertising")
    care = Campaign.objects.create(name="care", kind="record", purpose="customer_care")

    assert "At most 3 calls per number in 24 h" in text(runner.get(campaign_page(own)).content)
    assert "At most 1 call per number in 24 h" in text(runner.get(campaign_page(preset)).content)
    assert "No limit on calls per number" in text(runner.get(campaign_page(care)).content)


def test_calls_canceled_by_a_policy_are_explained_on_the_campaign_page(runner: Client) -> None:
    c = Campaign.objects.create(name="june", kind="record", template_id="1", purpose="advertising")
    for phone, code in ((PHONE, "suppressed"), (OTHER, "frequency_capped"), (THIRD, "")):
        VoiceCall.objects.create(
            phone=phone,
            kind="record",
            template_id="1",
            campaign=c,
            batch=c.name,
            purpose="advertising",
            status=CallStatus.CANCELED,
            last_error_code=code,
        )

    page = runner.get(campaign_page(c))
    codes = {group.code: group.count for group in page.context["figures"].error_groups}
    assert codes == {"suppressed": 1, "frequency_capped": 1}  # a plain cancel is no error
    words = text(page.content)
    assert "Not called: the number is on the suppression list" in words
    assert "remove it from the suppression list first" in words
    assert "Not called: the number already had its calls for the period" in words
    assert "set the campaign's calls per number" in words
    with translation.override("vi"):
        words = text(runner.get(campaign_page(c), HTTP_ACCEPT_LANGUAGE="vi").content)
    assert "Không gọi: số này nằm trong danh sách số không gọi" in words
    assert "Không gọi: số này đã nhận đủ số cuộc gọi cho phép trong khoảng thời gian" in words


def test_the_host_action_sets_the_campaigns_calls_per_number(
    op: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from django.contrib.auth.models import User

    from tests.admin.helpers import CALL_OBJECTS_URL, HOST_ACTION, HOST_CHANGELIST

    services.create_call(phone=OTHER, template_id="1234", purpose="advertising")
    customer = User.objects.create_user("customer", first_name="An", last_name=OTHER)
    selected = {"action": HOST_ACTION, "_selected_action": [customer.pk], "index": "0"}
    payload = op.post(HOST_CHANGELIST, selected).context["payload"]

    def confirm(**fields: str) -> Any:
        data = {"payload": payload, **many_data(kind="template", purpose="advertising", **fields)}
        with django_capture_on_commit_callbacks(execute=True):
            return op.post(CALL_OBJECTS_URL, data, follow=True)

    confirm()  # the purpose's cap: the number had its advertising call today
    assert VoiceCall.objects.count() == 1
    confirm(frequency_cap="2")
    made = Campaign.objects.get()
    assert (made.purpose, made.frequency_cap) == ("advertising", 2)
    assert VoiceCall.objects.filter(campaign=made, phone=OTHER).count() == 1


def test_the_sample_number_of_the_options_check_being_capped_or_listed_blocks_nothing(
    op: Client,
) -> None:
    """The form checks its options with SAMPLE_PHONE: that number's history is not theirs."""
    services.create_call(phone=PHONE, template_id="1234", purpose="advertising")
    services.import_suppressions([PHONE], reason="opted_out", source="test")

    preview = op.post(reverse(CALL_MANY), many_data(numbers=OTHER, purpose="advertising"))

    assert preview.context["invalid"] == []
    assert preview.context["count"] == 1
