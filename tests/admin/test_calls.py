"""The voice call admin: the list (fast on a large table), its filters and search, a call's page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

import django_esms_voice
from django_esms_voice.admin import display, lists
from django_esms_voice.admin.filters import BatchFilter
from django_esms_voice.errors import explain
from django_esms_voice.models import CallbackEvent, CallKind, EventOutcome, EventSource, VoiceCall
from django_esms_voice.states import CallStatus
from tests.admin.helpers import (
    CHANGELIST,
    OTHER,
    PHONE,
    THIRD,
    action_names,
    changelist_url,
    make_call,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def test_the_list_shows_status_badges_filters_and_the_placing_links(admin_client: Client) -> None:
    make_call(status=CallStatus.ANSWERED, batch="june", duration=13, ivr_pressed="1")
    make_call(phone=OTHER, status=CallStatus.PENDING)
    response = admin_client.get(changelist_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="esms-voice-status esms-voice-status-answered">Answered</span>' in html
    assert "esms-voice-status-pending" in html
    assert "esms_voice/admin.css" in html
    titles = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert {"status", "kind", "created", "batch", "no result after"} <= titles
    assert reverse("admin:esms_voice_voicecall_add") in html
    assert "Place a call" in html
    assert "Call many numbers" in html
    assert reverse("admin:esms_voice_voicecall_call_many") in html
    assert action_names(response) == {
        "place_now",
        "retry_calls",
        "cancel_calls",
        "refresh_calls",
    }


def test_the_list_says_what_was_said_and_how_the_call_went_in_short(
    admin_client: Client, settings: Any
) -> None:
    """One short line each, to fit a laptop screen: the kind and id, the duration, key, price."""
    make_call(
        kind=CallKind.TEMPLATE,
        template_id="2002",
        status=CallStatus.ANSWERED,
        duration=42,
        ivr_pressed="1",
        price=Decimal("1500"),
    )
    make_call(phone=OTHER, status=CallStatus.NO_ANSWER)

    html = admin_client.get(changelist_url()).content.decode()
    assert '<td class="field-said_briefly">Script 2002</td>' in html
    assert '<td class="field-said_briefly">Recording 1234</td>' in html
    assert (
        '<span class="esms-voice-result"><span>42 s</span> · <span>key 1</span> · '
        "<span>1,500 ₫</span></span>"
    ) in html
    assert "Text-to-speech script 2002" not in html  # the long label is the filter's

    settings.LANGUAGE_CODE = "vi"
    html = admin_client.get(changelist_url()).content.decode()
    assert '<td class="field-said_briefly">Kịch bản 2002</td>' in html
    assert '<td class="field-said_briefly">Bản ghi âm 1234</td>' in html
    assert "<span>42 giây</span> · <span>bấm phím 1</span> · <span>1.500 ₫</span>" in html


def test_a_call_charged_with_its_result_unknown_is_shown_and_filtered(admin_client: Client) -> None:
    unknown = make_call(status=CallStatus.UNKNOWN, last_error_code="no_result")
    make_call(phone=OTHER, status=CallStatus.ERROR)

    response = admin_client.get(changelist_url(status__exact=CallStatus.UNKNOWN))

    html = response.content.decode()
    assert '<span class="esms-voice-status esms-voice-status-unknown">' in html
    assert "Charged, result unknown" in html
    assert list(response.context["cl"].result_list) == [unknown]
    with translation.override("vi"):
        assert str(CallStatus.UNKNOWN.label) == "Đã tính cước, không rõ kết quả"


def test_every_status_has_a_badge_colour() -> None:
    css = (Path(django_esms_voice.__file__).parent / "static/esms_voice/admin.css").read_text()
    assert [s for s in CallStatus.values if not re.search(rf"\.esms-voice-status-{s}\b", css)] == []


@pytest.mark.parametrize("count", [10, 1000])
def test_the_list_makes_the_same_few_queries_at_10_and_1000_calls(
    count: int, admin_client: Client, django_assert_num_queries: Any
) -> None:
    now = timezone.now()
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=f"0901{i:06d}",
            kind=CallKind.RECORD,
            template_id="1234",
            status=CallStatus.ANSWERED if i % 2 else CallStatus.PENDING,
            batch=f"batch-{i % 3}",
            created_at=now - dt.timedelta(minutes=i),
        )
        for i in range(count)
    )
    admin_client.get(changelist_url())  # warm the content type and permission caches
    # session, user, the account pause banner, campaign and batch filter choices, date hierarchy
    # (MIN/MAX twice), count, page of rows; PostgreSQL first reads the planner's row estimate.
    expected = 9 + (connection.vendor == "postgresql")
    with django_assert_num_queries(expected):
        response = admin_client.get(changelist_url())
    assert response.status_code == 200
    assert response.context["cl"].result_count == count
    assert len(response.context["cl"].result_list) == min(count, 100)


def test_the_date_hierarchy_reads_min_and_max_not_every_row(admin_client: Client) -> None:
    now = timezone.localtime()
    make_call(created_at=now)
    old = make_call(phone=OTHER)
    VoiceCall.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=800))
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(changelist_url())
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
    html = response.content.decode()
    for year in range((now - dt.timedelta(days=800)).year, now.year + 1):
        assert f"created_at__year={year}" in html
    response = admin_client.get(changelist_url(created_at__year=str(now.year)))
    assert response.status_code == 200
    assert f"created_at__month={now.month}" in response.content.decode()


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("+84 901 888 484", {PHONE}),
        ("0901888484", {PHONE}),
        ("SMS-ABC-1", {OTHER}),
        ("sms-abc-1", {OTHER}),
        ("no such thing", set()),
        ("0901", set()),
    ],
)
def test_search_matches_a_phone_an_smsid_or_a_uuid_exactly(
    admin_client: Client, term: str, found: set[str]
) -> None:
    make_call(phone=PHONE)
    make_call(phone=OTHER, smsid="SMS-ABC-1")
    make_call(phone=THIRD)
    response = admin_client.get(reverse(CHANGELIST), {"q": term})
    assert {call.phone for call in response.context["cl"].result_list} == found


def test_search_by_uuid(admin_client: Client) -> None:
    call = make_call()
    make_call(phone=OTHER)
    response = admin_client.get(reverse(CHANGELIST), {"q": str(call.uuid).upper()})
    assert [c.pk for c in response.context["cl"].result_list] == [call.pk]


def test_no_result_after_lists_open_calls_that_are_overdue(admin_client: Client) -> None:
    now = timezone.now()
    overdue = make_call(status=CallStatus.ACCEPTED)
    recent = make_call(phone=OTHER, status=CallStatus.IN_PROGRESS)
    done = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    scheduled = make_call(
        phone="0987000111", status=CallStatus.PENDING, send_at=now + dt.timedelta(hours=1)
    )
    VoiceCall.objects.filter(pk__in=[overdue.pk, done.pk, scheduled.pk]).update(
        created_at=now - dt.timedelta(hours=2)
    )
    VoiceCall.objects.filter(pk=recent.pk).update(created_at=now - dt.timedelta(minutes=5))

    def listed(minutes: str) -> set[int]:
        response = admin_client.get(reverse(CHANGELIST), {"no_result_after": minutes})
        return {call.pk for call in response.context["cl"].result_list}

    assert listed("15") == {overdue.pk}
    assert listed("60") == {overdue.pk}
    assert listed("240") == set()


def test_no_result_after_counts_from_when_esms_took_the_call(admin_client: Client) -> None:
    # The sweep's rule too: a call retried for an hour before eSMS took it is due from then.
    now = timezone.now()
    late = make_call(status=CallStatus.ACCEPTED)
    VoiceCall.objects.filter(pk=late.pk).update(
        created_at=now - dt.timedelta(hours=2), submitted_at=now - dt.timedelta(minutes=5)
    )
    response = admin_client.get(reverse(CHANGELIST), {"no_result_after": "15"})
    assert list(response.context["cl"].result_list) == []


def test_the_batch_filter_offers_recent_batches(admin_client: Client) -> None:
    make_call(batch="june-reminders")
    make_call(phone=OTHER, batch="june-reminders")
    make_call(phone=THIRD, batch="otp")
    make_call(phone="0987000111")
    response = admin_client.get(reverse(CHANGELIST))
    [spec] = [s for s in response.context["cl"].filter_specs if isinstance(s, BatchFilter)]
    assert sorted(value for value, _ in spec.lookup_choices) == ["june-reminders", "otp"]
    response = admin_client.get(reverse(CHANGELIST), {"batch": "june-reminders"})
    assert len(response.context["cl"].result_list) == 2
    # An old batch reached through a link is still shown as selected.
    response = admin_client.get(reverse(CHANGELIST), {"batch": "long-ago"})
    [spec] = [s for s in response.context["cl"].filter_specs if isinstance(s, BatchFilter)]
    assert ("long-ago", "long-ago") in spec.lookup_choices


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class is PostgreSQL's")
def test_a_big_unfiltered_list_is_counted_from_the_planner_estimate(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    VoiceCall.objects.bulk_create(
        VoiceCall(phone=f"0901{i:06d}", kind=CallKind.RECORD, template_id="1") for i in range(150)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {VoiceCall._meta.db_table}")
    monkeypatch.setattr(lists, "ESTIMATE_ABOVE", 100)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].result_count == 150
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST), {"status__exact": "pending"})
    assert response.context["cl"].result_count == 150
    assert [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_a_calls_page_is_read_only_with_its_events_and_timeline(admin_client: Client) -> None:
    call = make_call(status=CallStatus.ANSWERED, smsid="SMS-1", duration=13, price="500")
    now = timezone.now()
    VoiceCall.objects.filter(pk=call.pk).update(
        submitted_at=now - dt.timedelta(seconds=30), completed_at=now
    )
    CallbackEvent.objects.create(
        call=call,
        source=EventSource.CALLBACK,
        outcome=EventOutcome.APPLIED,
        old_status=CallStatus.ACCEPTED,
        new_status=CallStatus.ANSWERED,
        parsed={"send_status": 5, "call_status": "ANSWERED", "call_duration": 13},
    )
    url = reverse("admin:esms_voice_voicecall_change", args=[call.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert 'name="phone"' not in html  # shown, not editable
    assert "esms-voice-timeline" in html
    for step in (
        "Created",
        "Accepted by eSMS",
        "Callback from eSMS: Applied",
        "Completed: Answered",
    ):
        assert step in html
    assert "Accepted by eSMS → Answered" in html
    # The callback that ended the call comes before "Completed", though stored just after it.
    assert html.index("Callback from eSMS: Applied") < html.index("Completed: Answered")
    assert "SendStatus=5, CallStatus=ANSWERED, CallDuration=13" in html
    assert admin_client.post(url, {"phone": OTHER}).status_code == 403


def test_the_events_inline_shows_the_newest_ones_only(admin_client: Client) -> None:
    call = make_call(status=CallStatus.ACCEPTED)
    CallbackEvent.objects.bulk_create(
        CallbackEvent(call=call, outcome=EventOutcome.DUPLICATE, raw=f"n={i}") for i in range(60)
    )
    response = admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
    [inline] = response.context["inline_admin_formsets"]
    shown = [form.instance for form in inline.formset.forms]
    assert len(shown) == display.EVENTS_SHOWN
    assert [e.raw for e in shown[:2]] == ["n=59", "n=58"]


def test_a_retry_links_to_the_call_it_retries(admin_client: Client) -> None:
    old = make_call(status=CallStatus.REJECTED)
    new = make_call(retry_of=old)
    html = admin_client.get(
        reverse("admin:esms_voice_voicecall_change", args=[old.pk])
    ).content.decode()
    assert f"retried as #{new.pk}" in html
    html = admin_client.get(
        reverse("admin:esms_voice_voicecall_change", args=[new.pk])
    ).content.decode()
    assert f"retry of #{old.pk}" in html


def test_the_admin_speaks_vietnamese(admin_client: Client, settings: Any) -> None:
    settings.LANGUAGE_CODE = "vi"
    make_call(status=CallStatus.ANSWERED)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Chọn cuộc gọi thoại để thay đổi" in html  # Django's title, our verbose name
    assert "Gọi ngay các cuộc gọi đang chờ đã chọn" in html  # place_now
    assert "Gọi nhiều số" in html
    assert ">Đã nghe máy</span>" in html  # the status badge
    assert "thời gian chưa có kết quả" in html  # a filter's title
    html = admin_client.get(reverse("admin:esms_voice_voicecall_add")).content.decode()
    assert "Gọi điện" in html


def test_a_partial_uuid_finds_nothing(admin_client: Client) -> None:
    make_call()
    response = admin_client.get(reverse(CHANGELIST), {"q": str(uuid.uuid4())[:10]})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_list_explains_each_error_and_filters_by_its_code(admin_client: Client) -> None:
    timed_out = make_call(status=CallStatus.ERROR, last_error_code="timeout")
    old = make_call(phone=OTHER, status=CallStatus.ERROR, last_error_code="EsmsTimeout")
    make_call(phone=THIRD, status=CallStatus.REJECTED, last_error_code="108")

    html = admin_client.get(changelist_url()).content.decode()

    # What the error means; on mouse-over, its code and what to do about it.
    timeout = explain("timeout")
    assert (
        f'<span class="esms-voice-error" title="eSMS did not answer in time (timeout). '
        f'{escape(timeout.advice)}">eSMS did not answer in time</span>'
    ) in html
    assert 'title="Phone number has a wrong format (108). ' in html
    assert "?error=http_5xx" in html  # the whole vocabulary is offered, rows or not
    assert "http_5xx · eSMS answered with a server error (HTTP 5xx)" in html
    response = admin_client.get(changelist_url(error="timeout"))
    assert set(response.context["cl"].result_list) == {timed_out, old}
    unknown = admin_client.get(changelist_url(error="EsmsTimeout"))
    assert list(unknown.context["cl"].result_list) == []


def test_the_error_column_and_filter_speak_vietnamese(admin_client: Client, settings: Any) -> None:
    settings.LANGUAGE_CODE = "vi"
    make_call(status=CallStatus.ERROR, last_error_code="http_5xx")
    html = admin_client.get(changelist_url()).content.decode()
    assert 'title="Máy chủ eSMS gặp lỗi (HTTP 5xx) (http_5xx). ' in html
    assert ">Máy chủ eSMS gặp lỗi (HTTP 5xx)</span>" in html
    assert "bad_response · " in html
    assert "eSMS answered with a server error" not in html
