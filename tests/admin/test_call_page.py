"""A call's page: what staff need first (who, what, the result, the error), the raw fields below."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation

from django_esms_voice.models import CallbackEvent, EventOutcome, EventSource, VoiceCall
from django_esms_voice.moments import local_time
from django_esms_voice.states import CallStatus
from tests.admin.helpers import VOICE_PERMS, login, make_call, staff

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

#: 05:06:07 UTC is 12:06:07 in Asia/Ho_Chi_Minh (the tests' TIME_ZONE).
RECEIVED = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def page(client: Client, call: VoiceCall) -> str:
    return client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk])).content.decode()


def text(html: str) -> str:
    """The page's words, tags and runs of spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def answered_call(admin_user: User) -> VoiceCall:
    call = make_call(
        status=CallStatus.ANSWERED,
        smsid="ab-12",
        call_status="ANSWERED",
        duration=75,
        ivr_pressed="1",
        price=Decimal("1500.0000"),
        send_status=5,
        sent_result=1,
        content_type_id=None,
    )
    call.content_object = admin_user
    call.save()
    return call


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "en",
            [
                "Recording 1234",
                "The call was answered.",
                "1 min 15 s",
                "1,500 ₫",
                "All fields, as stored",
                "5 (the call is over)",
                "1 (delivered to the carrier)",
                "ANSWERED (the listener answered)",
            ],
        ),
        (
            "vi",
            [
                "Bản ghi âm 1234",
                "Cuộc gọi đã được nghe máy.",
                "1.500 ₫",
                "Tất cả các trường, như đã lưu",
                "5 (cuộc gọi đã kết thúc)",
                "1 (đã chuyển đến nhà mạng)",
                "ANSWERED (người nghe đã bắt máy)",
            ],
        ),
    ],
)
def test_the_page_starts_with_who_what_and_the_result_and_collapses_the_raw_fields(
    admin_client: Client, admin_user: User, settings: Any, language: str, said: list[str]
) -> None:
    settings.LANGUAGE_CODE = language
    call = answered_call(admin_user)
    html = page(admin_client, call)
    words = text(html)
    for phrase in said:
        assert phrase in words, phrase
    # The linked object, linked; then the summary; then the collapsed raw fields.
    user_url = reverse("admin:auth_user_change", args=[admin_user.pk])
    assert f'<a href="{user_url}">{admin_user}</a>' in html
    summary, raw = html.index("field-outcome"), html.index("field-send_status_shown")
    assert html.index("field-linked_object") < summary < html.index("field-charged") < raw
    raw_fieldset = html[: html.index("field-smsid")].rsplit("<fieldset", 1)[1]
    assert "collapse" in raw_fieldset.split(">", 1)[0]
    # No error, no error row.
    assert "field-error_explained" not in html


def test_a_refused_call_explains_its_error_in_both_languages(
    admin_client: Client, settings: Any
) -> None:
    call = make_call(status=CallStatus.REJECTED, last_error_code="103", attempts=1)
    words = text(page(admin_client, call))
    assert "eSMS refused the call: the number was not called." in words
    assert "eSMS balance too low (103)" in words
    assert "Top up the eSMS account" in words
    settings.LANGUAGE_CODE = "vi"
    with translation.override("vi"):
        from django_esms_voice.errors import explain

        meaning, advice = str(explain("103").meaning), str(explain("103").advice)
    words = text(page(admin_client, call))
    assert "eSMS từ chối cuộc gọi: số này chưa được gọi." in words
    assert f"{meaning} (103)" in words
    assert advice.split(":")[0] in words


def buttons(html: str) -> set[str]:
    """The actions the page's buttons post to the list, each for this call only."""
    return set(re.findall(r'name="action" value="(\w+)"', html))


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"status": CallStatus.PENDING}, {"cancel_calls"}),
        ({"status": CallStatus.PENDING, "attempts": 1}, set()),  # eSMS may have it
        ({"status": CallStatus.ACCEPTED, "smsid": "ab"}, {"refresh_calls"}),
        ({"status": CallStatus.UNKNOWN, "smsid": "ab"}, {"refresh_calls"}),
        ({"status": CallStatus.IN_PROGRESS, "smsid": "ab"}, {"refresh_calls"}),
        ({"status": CallStatus.ACCEPTED}, set()),  # accepted through 124: no SMSID to ask by
        ({"status": CallStatus.ANSWERED, "smsid": "ab"}, set()),
        ({"status": CallStatus.REJECTED, "last_error_code": "103"}, {"retry_calls"}),
        ({"status": CallStatus.ERROR, "last_error_code": "timeout"}, {"retry_calls"}),
    ],
)
def test_the_buttons_follow_the_calls_status(
    admin_client: Client, fields: dict[str, Any], shown: set[str]
) -> None:
    call = make_call(**fields)
    html = page(admin_client, call)
    assert buttons(html) == shown
    if shown:
        changelist = reverse("admin:esms_voice_voicecall_changelist")
        assert f'action="{changelist}"' in html
        assert f'name="_selected_action" value="{call.pk}"' in html


def test_a_retried_call_offers_no_second_retry(admin_client: Client) -> None:
    call = make_call(status=CallStatus.REJECTED, last_error_code="103")
    make_call(retry_of=call)
    assert buttons(page(admin_client, call)) == set()


def test_the_buttons_follow_the_users_permissions() -> None:
    rejected = make_call(status=CallStatus.REJECTED, last_error_code="103")
    pending = make_call(status=CallStatus.PENDING)
    viewer = login(staff("viewer", "esms_voice.view_voicecall"))
    assert buttons(page(viewer, rejected)) == set()
    assert buttons(page(viewer, pending)) == set()
    changer = login(staff("changer", *VOICE_PERMS))  # may cancel, may not spend money
    assert buttons(page(changer, rejected)) == set()
    assert buttons(page(changer, pending)) == {"cancel_calls"}


def test_a_button_runs_the_list_action_with_its_confirmation(admin_client: Client) -> None:
    call = make_call(status=CallStatus.REJECTED, last_error_code="103")
    response = admin_client.post(
        reverse("admin:esms_voice_voicecall_changelist"),
        {"action": "retry_calls", "_selected_action": str(call.pk)},
    )
    assert response.status_code == 200
    assert "Retry calls" in response.content.decode()  # the confirmation, nothing placed yet
    assert not VoiceCall.objects.filter(retry_of=call).exists()


@pytest.mark.parametrize("language", ["en", "vi"])
def test_event_titles_and_the_timeline_show_the_same_local_time(
    admin_client: Client, settings: Any, language: str
) -> None:
    settings.LANGUAGE_CODE = language
    call = make_call(status=CallStatus.ACCEPTED, smsid="ab")
    event = CallbackEvent.objects.create(
        call=call,
        source=EventSource.CALLBACK,
        outcome=EventOutcome.APPLIED,
        old_status=CallStatus.ACCEPTED,
        new_status=CallStatus.ANSWERED,
    )
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=RECEIVED)
    event.refresh_from_db()
    local = "2026-03-04 12:06:07"
    with timezone.override("Asia/Ho_Chi_Minh"):
        assert local in str(event)
    html = page(admin_client, call)
    timeline = html[html.index("esms-voice-timeline") :].split("</table>", 1)[0]
    assert local in timeline
    inline = html[html.index("field-received") :].split("</td>", 1)[0]
    assert local in inline
    assert "2026-03-04 05:06:07" not in html
    # The call's own times read the same way, not in Django's long date format.
    with translation.override(language):
        assert local_time(call.created_at) in html
        assert formats.date_format(timezone.localtime(call.created_at), "DATE_FORMAT") not in html
