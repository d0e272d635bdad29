"""A call is a record of money spent: its price reads in đồng; it is never deleted or edited."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_esms_voice.models import CallbackEvent, EventOutcome, EventSource, VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import OTHER, action_names, changelist_url, make_call

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def text_of(response: object) -> str:
    """The page's text without tags, spaces collapsed."""
    html = response.content.decode()  # type: ignore[attr-defined]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def priced_call() -> VoiceCall:
    """An answered call eSMS charged 1.500 đồng for, stored with its four decimals."""
    call = make_call(status=CallStatus.ANSWERED, smsid="SMS-1", price=Decimal("1500.0000"))
    CallbackEvent.objects.create(
        call=call,
        source=EventSource.CALLBACK,
        outcome=EventOutcome.APPLIED,
        old_status=CallStatus.ACCEPTED,
        new_status=CallStatus.ANSWERED,
        parsed={"send_status": 5, "call_status": "ANSWERED", "price": "1500.0000"},
    )
    return call


# -- the price


def test_the_list_shows_a_calls_price_in_whole_dong(admin_client: Client) -> None:
    priced_call()
    make_call(phone=OTHER, price=Decimal("500"))
    text = text_of(admin_client.get(changelist_url()))
    assert "1,500 ₫" in text
    assert "500 ₫" in text
    assert "1500.0000" not in text
    assert "500.0000" not in text


def test_a_calls_page_shows_its_price_in_whole_dong_in_vietnamese(admin_client: Client) -> None:
    call = priced_call()
    with translation.override("vi"):
        text = text_of(
            admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
        )
        listed = text_of(admin_client.get(changelist_url()))
    assert "Cước phí: 1.500 ₫" in text  # the eSMS result section's field
    assert "Price=1.500 ₫" in text  # the callback's result in the timeline and events
    assert "1500,0000" not in text
    assert "1.500 ₫" in listed
    assert "1500,0000" not in listed


def test_a_call_without_a_price_yet_shows_a_dash(admin_client: Client) -> None:
    call = make_call(status=CallStatus.ACCEPTED)
    response = admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
    assert re.search(r"Price:</label>\s*<div class=\"readonly\">-</div>", response.content.decode())


# -- no delete


def test_a_call_is_never_deleted_not_even_by_a_superuser(admin_client: Client) -> None:
    call = priced_call()
    delete = reverse("admin:esms_voice_voicecall_delete", args=[call.pk])
    page = admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
    assert page.status_code == 200
    assert delete not in page.content.decode()
    assert "deletelink" not in page.content.decode()
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert VoiceCall.objects.filter(pk=call.pk).exists()


def test_the_list_offers_no_delete_selected_action(admin_client: Client) -> None:
    call = priced_call()
    response = admin_client.get(changelist_url())
    assert "delete_selected" not in action_names(response)
    posted = admin_client.post(
        changelist_url(),
        {"action": "delete_selected", "_selected_action": [call.pk], "post": "yes"},
    )
    assert posted.status_code in (200, 302)
    assert VoiceCall.objects.filter(pk=call.pk).exists()


# -- the add form's buttons


def test_the_add_form_has_no_save_and_continue_editing(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:esms_voice_voicecall_add")).content.decode()
    assert 'name="_save"' in html
    assert 'name="_addanother"' in html  # confirmed like Save, then an empty form again
    assert 'name="_continue"' not in html
    with translation.override("vi"):
        html = admin_client.get(reverse("admin:esms_voice_voicecall_add")).content.decode()
    assert "Lưu và tiếp tục chỉnh sửa" not in html
