"""The campaign admin: the list, a campaign's page, its buttons, its live counts and exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from django_esms_voice import services
from django_esms_voice.admin.permissions import RUN_CAMPAIGN_PERMISSION
from django_esms_voice.models import Campaign, CampaignSource, VoiceCall
from django_esms_voice.services import exporting
from django_esms_voice.states import CallStatus, CampaignState, Hold
from tests.admin.helpers import (
    OTHER,
    PHONE,
    THIRD,
    campaign_page,
    changelist_url,
    enqueued,
    login,
    messages_of,
    staff,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

CHANGELIST = "admin:esms_voice_campaign_changelist"


def campaign(phones: tuple[str, ...] = (PHONE, OTHER, THIRD), name: str = "june") -> Campaign:
    """A campaign of pending calls, made by call-many."""
    rows = [{"phone": phone, "template_id": "1234"} for phone in phones]
    services.create_calls(rows, batch=name, source=CampaignSource.CALL_MANY)
    return Campaign.objects.get(name=name)


def finish(call: VoiceCall, status: str, **fields: Any) -> None:
    VoiceCall.objects.filter(pk=call.pk).update(
        status=status, completed_at=timezone.now(), **fields
    )


def results(c: Campaign) -> tuple[VoiceCall, VoiceCall, VoiceCall]:
    """Answered (a key pressed, 40 s, 1.250.000 đồng), refused for a wrong number, pending."""
    first, second, third = c.calls.order_by("pk")
    finish(first, CallStatus.ANSWERED, duration=40, ivr_pressed="1", price=Decimal("1250000"))
    finish(second, CallStatus.REJECTED, last_error_code="108")
    return first, second, third


def words(html: str, tags: str = " ") -> str:
    """The text of a page: tags dropped (or spaced), spaces (non-breaking too) squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", tags, html).replace("\xa0", " "))


# -- the list


def test_the_list_shows_each_campaigns_progress_answer_rate_and_cost(runner: Client) -> None:
    results(campaign())
    response = runner.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(r"<tr[^>]*>.*?june.*?</tr>", html, flags=re.DOTALL)
    assert row is not None
    text = re.sub(r"<[^>]+>", " ", row.group(0)).replace("\xa0", " ")
    assert "Running" in text
    assert "Call many (admin)" in text
    assert "2 / 3" in text  # finished of all
    assert "100.0%" in text  # answered, of the calls that rang (the refused one did not)
    assert "1,250,000 ₫" in text
    assert reverse("admin:esms_voice_campaign_overview") in html
    assert "esms_voice/campaign/add/" not in html  # made elsewhere, never added here


def test_a_campaign_is_never_added_edited_or_deleted_here(admin_client: Client) -> None:
    c = campaign()
    assert admin_client.get(reverse("admin:esms_voice_campaign_add")).status_code == 403
    delete = reverse("admin:esms_voice_campaign_delete", args=[c.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    admin_client.post(campaign_page(c), {"name": "renamed", "template_id": "9999"})
    c.refresh_from_db()
    assert (c.name, c.template_id, c.calls.count()) == ("june", "1234", 3)


# -- the buttons


def test_a_watcher_sees_the_page_but_no_button_and_cannot_pause(watcher: Client) -> None:
    c = campaign()
    html = watcher.get(campaign_page(c)).content.decode()
    assert "june" in html
    assert campaign_page(c, "pause") not in html
    assert watcher.post(campaign_page(c, "pause")).status_code == 403
    assert watcher.post(campaign_page(c, "cancel"), {"post": "yes"}).status_code == 403
    c.refresh_from_db()
    assert c.state == CampaignState.RUNNING
    assert not c.calls.exclude(hold=Hold.NONE).exists()
    assert not LogEntry.objects.exists()


def test_a_get_does_nothing(runner: Client) -> None:
    c = campaign()
    assert runner.get(campaign_page(c, "pause")).status_code == 403
    services.pause_campaign(c)
    assert runner.get(campaign_page(c, "resume")).status_code == 403
    response = runner.get(campaign_page(c, "cancel"))  # the confirmation page, nothing done
    assert response.status_code == 200
    assert "3 calls not sent yet will be canceled" in response.content.decode()
    c.refresh_from_db()
    assert c.state == CampaignState.PAUSED
    assert c.calls.filter(status=CallStatus.PENDING, hold=Hold.CAMPAIGN_PAUSED).count() == 3
    assert not LogEntry.objects.exists()


def test_pause_holds_the_calls_not_sent_and_resume_releases_them(
    runner: Client,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    c = campaign()
    first, _, _ = c.calls.order_by("pk")
    VoiceCall.objects.filter(pk=first.pk).update(status=CallStatus.ACCEPTED, attempts=1)
    apply_async.reset_mock()

    response = runner.post(campaign_page(c, "pause"), follow=True)

    assert response.redirect_chain[-1][0] == campaign_page(c)
    assert messages_of(response) == [
        "Campaign paused: 2 calls held. Calls already with eSMS finish."
    ]
    c.refresh_from_db()
    assert c.state == CampaignState.PAUSED
    held = set(c.calls.filter(hold=Hold.CAMPAIGN_PAUSED).values_list("pk", flat=True))
    assert len(held) == 2
    assert first.pk not in held
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.action_flag) == (str(c.pk), CHANGE)
    assert "Campaign paused: 2 calls held." in entry.get_change_message()
    html = response.content.decode()
    assert campaign_page(c, "resume") in html
    assert campaign_page(c, "pause") not in html
    call_page = runner.get(reverse("admin:esms_voice_voicecall_change", args=[min(held)]))
    assert "Waiting: its campaign is paused" in call_page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = runner.post(campaign_page(c, "resume"), follow=True)

    assert messages_of(response) == ["Campaign resumed: 2 calls released to be placed."]
    c.refresh_from_db()
    assert c.state == CampaignState.RUNNING
    assert not c.calls.exclude(hold=Hold.NONE).exists()
    assert sorted(enqueued(apply_async)) == sorted(held)
    assert LogEntry.objects.count() == 2


def test_pausing_twice_says_nothing_was_done(runner: Client) -> None:
    c = campaign()
    runner.post(campaign_page(c, "pause"))
    response = runner.post(campaign_page(c, "pause"), follow=True)
    assert messages_of(response)[-1] == (
        "Only a running campaign can be paused; this one is “Paused”."
    )
    assert LogEntry.objects.count() == 1


def test_cancel_asks_then_cancels_the_calls_not_sent_and_leaves_sent_ones(
    runner: Client,
) -> None:
    c = campaign()
    first, _, _ = c.calls.order_by("pk")
    VoiceCall.objects.filter(pk=first.pk).update(status=CallStatus.ACCEPTED, attempts=1)

    confirm = runner.get(campaign_page(c, "cancel"))
    html = confirm.content.decode()
    assert "2 calls not sent yet will be canceled" in html
    assert 'name="csrfmiddlewaretoken"' in html
    runner.post(campaign_page(c, "cancel"))  # the form's "post" missing: asks again
    assert not c.calls.filter(status=CallStatus.CANCELED).exists()

    response = runner.post(campaign_page(c, "cancel"), {"post": "yes"}, follow=True)

    assert messages_of(response) == [
        "Campaign canceled: 2 calls not sent yet were canceled. Calls already with eSMS finish."
    ]
    c.refresh_from_db()
    assert c.state == CampaignState.CANCELED
    statuses = dict(c.calls.values_list("pk", "status"))
    assert statuses.pop(first.pk) == CallStatus.ACCEPTED
    assert set(statuses.values()) == {CallStatus.CANCELED}
    assert "Campaign canceled" in LogEntry.objects.get().get_change_message()
    assert campaign_page(c, "cancel") not in response.content.decode()


def test_the_buttons_are_protected_by_csrf(runner: Client) -> None:
    c = campaign()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="runner"))
    assert strict.post(campaign_page(c, "pause")).status_code == 403
    c.refresh_from_db()
    assert c.state == CampaignState.RUNNING


# -- the page


def test_the_page_shows_the_results_the_charts_and_the_errors(runner: Client) -> None:
    c = campaign()
    results(c)
    html = runner.get(campaign_page(c)).content.decode()
    text = words(html)
    assert "2 / 3 calls finished (66.7%)" in words(html, tags="")
    assert "Answered 1 33.3%" in text  # the status bar's legend
    assert "1,250,000 ₫" in text  # total cost
    assert "40 s" in text  # average duration
    assert "100.0%" in text  # key pressed, of the answered calls
    assert "Phone number has a wrong format" in text  # code 108, grouped by cause
    assert "Check the number" in text  # ... and what to do
    # The charts: a bar whose label reads it out, an SVG with a title, a table of its numbers.
    assert re.search(
        r'class="esms-voice-bar" role="img" aria-label="[^"]*Answered: 1 \(33\.3%\)', html
    )
    assert '<svg class="esms-voice-timeline-chart"' in html
    assert "<title" in html
    assert "The chart as a table" in html
    assert 'data-progress-url="' + campaign_page(c, "progress") + '"' in html
    assert "<script src=" not in html.split('id="esms-voice-campaign"')[1]  # inline, no CDN
    calls = changelist_url(campaign=str(c.pk))
    assert calls.replace("&", "&amp;") in html
    assert reverse("admin:esms_voice_campaign_export", args=[c.pk, "csv"]) in html


def test_the_live_endpoint_answers_the_counts_as_json(runner: Client) -> None:
    c = campaign()
    url = campaign_page(c, "progress")
    data = runner.get(url).json()
    assert data["parts"]["pending"]["count"] == 3
    assert data["text"]["progress"] == "0 / 3"
    results(c)
    response = runner.get(url)
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert data["state"] == "running"
    assert data["open"] == 1
    assert {key: part["count"] for key, part in data["parts"].items() if part["count"]} == {
        "pending": 1,
        "answered": 1,
        "rejected": 1,
    }
    assert data["text"]["progress"] == "2 / 3"
    assert data["done_percent"] == pytest.approx(66.67)
    nobody = login(staff("nobody", "auth.view_user"))
    assert nobody.get(url).status_code == 403


@pytest.mark.parametrize("count", [10, 1000])
def test_the_page_makes_the_same_few_queries_at_10_and_1000_calls(
    count: int, runner: Client, django_assert_num_queries: Any
) -> None:
    c = Campaign.objects.create(name="big", kind="record", template_id="1234")
    now = timezone.now()
    outcomes = [CallStatus.ANSWERED, CallStatus.NO_ANSWER, CallStatus.REJECTED, CallStatus.PENDING]
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=f"0901{i:06d}",
            kind="record",
            template_id="1234",
            campaign=c,
            batch="big",
            status=outcomes[i % 4],
            last_error_code="108" if i % 4 == 2 else "",
            duration=30 if i % 4 == 0 else None,
            price=Decimal(800) if i % 4 == 0 else None,
            completed_at=now - dt.timedelta(minutes=i % 90) if i % 4 != 3 else None,
        )
        for i in range(count)
    )
    runner.get(campaign_page(c))  # warm the content type cache
    # session, user, the user's and groups' permissions, the campaign (with its maker), whether
    # it is done (running, calls open: one read), its figures, its timeline, the pause banner.
    with django_assert_num_queries(9):
        response = runner.get(campaign_page(c))
    assert response.status_code == 200
    total = f"{count:,}"
    assert f"/ {total} calls finished" in re.sub(r"<[^>]+>", "", response.content.decode())


def test_the_page_reads_vietnamese(runner: Client) -> None:
    c = campaign()
    results(c)
    with translation.override("vi"):
        html = runner.get(campaign_page(c)).content.decode()
        data = runner.get(campaign_page(c, "progress")).json()
    text = words(html)
    assert "1.250.000 ₫" in text
    assert "66,7%" in text
    assert "Tiến độ" in text  # Progress
    assert "Tạm dừng" in text  # the Pause button
    assert "Đã nghe máy" in text  # Answered
    assert data["text"]["pace"] == "0,2 cuộc gọi mỗi phút"  # 2 ended in the last 10 minutes
    assert data["text"]["state"] == "Đang chạy"


# -- the calls of a campaign


def test_the_call_list_filters_on_a_campaign_and_the_call_links_back(runner: Client) -> None:
    june, july = campaign(), campaign((PHONE,), name="july")
    response = runner.get(changelist_url(campaign=str(july.pk)))
    assert [call.campaign_id for call in response.context["cl"].result_list] == [july.pk]
    titles = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert "campaign" in titles
    call = june.calls.order_by("pk")[0]
    html = runner.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk])).content
    assert f'<a href="{campaign_page(june)}">june</a> (Running)' in html.decode()


# -- exports


def test_the_csv_export_streams_the_campaigns_calls(runner: Client) -> None:
    c = campaign()
    results(c)
    response = runner.get(reverse("admin:esms_voice_campaign_export", args=[c.pk, "csv"]))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(
        r'attachment; filename="june-\d{4}-\d\d-\d\d\.csv"', response["Content-Disposition"]
    )
    text = response.getvalue().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Phone number", "Status", "Key pressed"]
    assert [row[:2] for row in rows[1:]] == [
        [PHONE, "Answered"],
        [OTHER, "Rejected by eSMS"],
        [THIRD, "Pending"],
    ]


def test_the_csv_export_keeps_the_language_of_the_request(runner: Client) -> None:
    c = campaign()
    with translation.override("vi"):
        response = runner.get(reverse("admin:esms_voice_campaign_export", args=[c.pk, "csv"]))
    text = response.getvalue().decode("utf-8-sig")  # read after the request
    assert text.splitlines()[0] == ",".join(exporting_headers("vi"))


def exporting_headers(language: str) -> list[str]:
    with translation.override(language):
        return exporting.headers()


def test_the_export_needs_the_right_to_see_calls() -> None:
    c = campaign()
    runner = login(staff("only-runs", RUN_CAMPAIGN_PERMISSION))
    assert runner.get(campaign_page(c)).status_code == 200
    url = reverse("admin:esms_voice_campaign_export", args=[c.pk, "csv"])
    assert runner.get(url).status_code == 403


def test_without_openpyxl_the_excel_export_says_so(
    runner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = campaign()

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise exporting.ExcelNotInstalled()

    monkeypatch.setattr(exporting, "write_xlsx", missing)
    url = reverse("admin:esms_voice_campaign_export", args=[c.pk, "xlsx"])
    response = runner.get(url, follow=True)
    assert response.redirect_chain[-1][0] == campaign_page(c)
    assert "Excel export is not installed here" in messages_of(response)[0]


def test_the_excel_export_is_a_workbook(runner: Client) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    c = campaign()
    response = runner.get(reverse("admin:esms_voice_campaign_export", args=[c.pk, "xlsx"]))
    assert response["Content-Type"] == exporting.XLSX_CONTENT_TYPE
    book = openpyxl.load_workbook(io.BytesIO(response.getvalue()))
    assert next(cell.value for cell in next(book.active.iter_rows(min_row=2, max_row=2))) == PHONE


def test_an_unknown_export_format_is_not_found(runner: Client) -> None:
    c = campaign()
    url = reverse("admin:esms_voice_campaign_export", args=[c.pk, "pdf"])
    assert runner.get(url).status_code == 404


# -- the overview


def test_the_overview_shows_the_periods_by_campaign_and_purpose(runner: Client) -> None:
    results(campaign())
    index = runner.get(reverse("admin:app_list", args=["esms_voice"])).content.decode()
    url = reverse("admin:esms_voice_campaign_overview")
    assert url in index
    response = runner.get(url)
    assert response.status_code == 200
    text = words(response.content.decode())
    for label in ("Today", "Last 7 days", "Last 30 days", "By campaign", "By purpose"):
        assert label in text
    assert "june" in text
    assert "Customer care" in text
    assert "1,250,000 ₫" in text
    assert 'class="esms-voice-bar' in response.content.decode()
    today = runner.get(url, {"period": "today"})
    assert today.context["period"].key == "today"
    assert login(staff("nobody", "auth.view_user")).get(url).status_code == 403


# -- a campaign whose last call has ended


def accepted(c: Campaign) -> list[VoiceCall]:
    """Its calls, accepted by eSMS (each its own SMSID), as placing leaves them."""
    calls = list(c.calls.order_by("pk"))
    for i, call in enumerate(calls):
        VoiceCall.objects.filter(pk=call.pk).update(
            status=CallStatus.ACCEPTED, smsid=f"SMS{i}", attempts=1, submitted_at=timezone.now()
        )
        call.smsid = f"SMS{i}"
    return calls


def answer(call: VoiceCall, status: str = "answered") -> None:
    """eSMS's final callback for the call, through the service the callback view calls."""
    from django_esms_voice.esms.payloads import parse_call_result
    from django_esms_voice.models import EventSource
    from django_esms_voice.testing import callback_params

    fields = callback_params(status=status, reference_id=call.smsid)
    services.record_result(
        call_uuid=call.uuid, source=EventSource.CALLBACK, raw="", result=parse_call_result(fields)
    )


def test_the_last_calls_callback_completes_the_campaign_on_its_page_and_the_list(
    runner: Client,
) -> None:
    c = campaign((PHONE, OTHER))
    first, second = accepted(c)
    answer(first)
    answer(second, "no_answer")

    with translation.override("vi"):
        html = runner.get(campaign_page(c), HTTP_ACCEPT_LANGUAGE="vi").content.decode()
        completed = str(CampaignState.COMPLETED.label)
    assert f"esms-voice-state-{CampaignState.COMPLETED}" in html
    assert completed in html
    assert campaign_page(c, "pause") not in html  # no Pause button: nothing is calling
    c.refresh_from_db()
    assert c.state == CampaignState.COMPLETED
    assert c.finished_at is not None


def test_the_list_shows_completed_once_the_last_call_has_ended(runner: Client) -> None:
    c = campaign((PHONE,), name="done")
    busy = campaign((OTHER, THIRD), name="busy")
    (call,) = accepted(c)
    answer(call, "failed")
    answer(accepted(busy)[0])

    html = runner.get(reverse(CHANGELIST)).content.decode()
    assert html.count(f"esms-voice-state-{CampaignState.COMPLETED}") == 1
    assert html.count(f"esms-voice-state-{CampaignState.RUNNING}") == 1
    assert dict(Campaign.objects.values_list("name", "state")) == {
        "done": CampaignState.COMPLETED,
        "busy": CampaignState.RUNNING,  # one call still with eSMS
    }


def test_a_campaign_with_one_open_call_left_stays_running(runner: Client) -> None:
    c = campaign()
    first, second, _third = accepted(c)
    answer(first)
    answer(second, "failed")

    html = runner.get(campaign_page(c)).content.decode()
    assert f"esms-voice-state-{CampaignState.RUNNING}" in html
    assert campaign_page(c, "pause") in html
    assert runner.get(campaign_page(c, "progress")).json()["state"] == CampaignState.RUNNING
    c.refresh_from_db()
    assert c.state == CampaignState.RUNNING


def test_the_live_counts_say_completed_when_the_last_call_ends(runner: Client) -> None:
    c = campaign((PHONE,))
    (call,) = accepted(c)
    url = campaign_page(c, "progress")
    assert runner.get(url).json()["state"] == CampaignState.RUNNING
    answer(call)
    data = runner.get(url).json()
    assert data["state"] == CampaignState.COMPLETED  # the page reloads to drop its buttons
    assert data["open"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_the_fast_paths_last_callback_completes_the_campaign_on_its_page(
    runner: Client,
) -> None:
    # Autocommit: the callbacks take PostgreSQL's one-statement path (services/pg/fastpath.py).
    c = campaign((PHONE, OTHER))
    first, second = accepted(c)
    answer(first)
    answer(second, "no_answer")
    assert c.calls.filter(status=CallStatus.ACCEPTED).count() == 0

    html = runner.get(campaign_page(c)).content.decode()
    assert f"esms-voice-state-{CampaignState.COMPLETED}" in html
    assert campaign_page(c, "pause") not in html
