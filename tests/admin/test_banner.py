"""The account pause banner: on every page of the app, what to do, and "Resume placement"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from django_esms_voice import services
from django_esms_voice.models import AccountPause, Campaign, CampaignSource, ResumedBy, VoiceCall
from tests.admin.helpers import (
    CALL_MANY,
    OTHER,
    PHONE,
    PLACE_PERMS,
    campaign_page,
    changelist_url,
    enqueued,
    login,
    messages_of,
    staff,
)
from tests.admin.test_host_action import run_host_action

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

RESUME = "admin:esms_voice_voicecall_resume_placement"
BANNER = "eSMS voice calls are paused for the whole account"


def pause(code: str = "103", **fields: Any) -> AccountPause:
    """Placement paused by eSMS code `code`, met by a call of a campaign."""
    services.create_calls([{"phone": PHONE, "template_id": "1234"}], batch="june")
    call = VoiceCall.objects.get()
    return AccountPause.objects.create(code=code, message="Balance not enough", call=call, **fields)


def pages(client: Client) -> dict[str, Any]:
    """Every page of the app, as one user sees it."""
    call = VoiceCall.objects.get()
    c = Campaign.objects.get()
    urls = {
        "call list": changelist_url(),
        "call page": reverse("admin:esms_voice_voicecall_change", args=[call.pk]),
        "event list": reverse("admin:esms_voice_callbackevent_changelist"),
        "campaign list": reverse("admin:esms_voice_campaign_changelist"),
        "campaign page": campaign_page(c),
        "cancel confirmation": campaign_page(c, "cancel"),
        "overview": reverse("admin:esms_voice_campaign_overview"),
        "app index": reverse("admin:app_list", args=["esms_voice"]),
        "call-many": reverse(CALL_MANY),
        "history": campaign_page(c, "history"),
    }
    shown = {name: client.get(url) for name, url in urls.items()}
    shown["place-now confirmation"] = client.post(
        changelist_url(), {"action": "place_now", "_selected_action": [call.pk], "index": "0"}
    )
    user = User.objects.create_user("customer", first_name="An", last_name=OTHER)
    shown["host-model action"] = run_host_action(client, [user])
    return shown


def test_no_banner_while_placement_runs(admin_client: Client) -> None:
    services.create_calls([{"phone": PHONE, "template_id": "1234"}], batch="june")
    for name, response in pages(admin_client).items():
        assert response.status_code == 200, name
        assert BANNER not in response.content.decode(), name


def test_every_page_of_the_app_shows_the_banner_while_paused(admin_client: Client) -> None:
    pause()
    for name, response in pages(admin_client).items():
        assert response.status_code == 200, name
        assert BANNER in response.content.decode(), name
    other_app = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert BANNER not in other_app


def test_the_banner_says_what_happened_and_what_to_do(admin_client: Client) -> None:
    paused = pause(last_probe_at=timezone.now(), last_balance=Decimal("1250000"))
    since = timezone.localtime(paused.started_at).strftime("%Y-%m-%d %H:%M")
    html = admin_client.get(changelist_url()).content.decode()
    assert f"Since {since}, eSMS has refused calls with code 103 (eSMS balance too low)." in html
    call_url = reverse("admin:esms_voice_voicecall_change", args=[paused.call_id])
    assert f'<a href="{call_url}">The call that met it: #{paused.call_id}</a>' in html
    assert "Top up the eSMS account" in html
    assert "Balance not enough" in html
    assert "1,250,000" in html
    assert "not enough yet" in html
    assert reverse(RESUME) in html


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("101", "Check ESMS_VOICE['API_KEY']"),
        ("140", "Add this server's public IP address"),
    ],
)
def test_each_account_code_gets_its_advice_and_no_balance_line(
    admin_client: Client, code: str, advice: str
) -> None:
    pause(code)
    html = admin_client.get(changelist_url()).content.decode()
    assert advice.replace("'", "&#x27;") in html
    assert "balance check" not in html


def test_the_banner_reads_vietnamese(admin_client: Client) -> None:
    pause(last_probe_at=timezone.now(), last_balance=Decimal("1250000"))
    with translation.override("vi"):
        html = admin_client.get(changelist_url()).content.decode().replace("\xa0", " ")
    assert "Cuộc gọi thoại eSMS đang tạm dừng cho toàn bộ tài khoản" in html
    assert "1.250.000 ₫" in html
    assert "Nạp thêm tiền vào tài khoản eSMS" in html


def test_the_banner_costs_one_query_per_page(admin_client: Client) -> None:
    pause()
    table = AccountPause._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("admin:esms_voice_campaign_overview"))
    assert len([q for q in queries if f'"{table}"' in q["sql"]]) == 1


def test_only_staff_who_may_place_calls_get_the_resume_button(watcher: Client) -> None:
    pause()
    html = watcher.get(changelist_url()).content.decode()
    assert BANNER in html
    assert reverse(RESUME) not in html
    assert watcher.post(reverse(RESUME)).status_code == 403
    assert AccountPause.objects.get().is_open
    assert not LogEntry.objects.exists()


def test_resume_placement_needs_a_post(admin_client: Client) -> None:
    pause()
    assert admin_client.get(reverse(RESUME)).status_code == 405
    assert AccountPause.objects.get().is_open


def test_resume_placement_ends_the_pause_logs_it_and_goes_back(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    paused = pause()
    operator = staff("operator", *PLACE_PERMS)
    client = login(operator)
    apply_async.reset_mock()
    back = changelist_url(status__exact="pending")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(RESUME), {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == back
    assert messages_of(response) == [
        "Placement resumed after eSMS code 103. The calls that were waiting are being placed."
    ]
    paused.refresh_from_db()
    assert not paused.is_open
    assert (paused.ended_by, paused.ended_by_user) == (ResumedBy.OPERATOR, operator)
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.action_flag, entry.user) == (str(paused.pk), CHANGE, operator)
    assert enqueued(apply_async) == [paused.call_id]  # the call that waited is placed
    assert BANNER not in response.content.decode()


def test_resume_placement_goes_back_to_the_app_only(admin_client: Client) -> None:
    pause()
    response = admin_client.post(reverse(RESUME), {"next": "https://evil.example/"})
    assert response["Location"] == changelist_url()
    again = admin_client.post(reverse(RESUME), follow=True)
    assert messages_of(again)[-1] == "Placement was not paused: nothing to resume."


def test_a_campaign_made_while_paused_shows_the_banner_on_its_page(op: Client) -> None:
    pause(last_probe_at=timezone.now() - dt.timedelta(minutes=3), last_balance=Decimal(5))
    services.create_calls(
        [{"phone": OTHER, "template_id": "1234"}], batch="july", source=CampaignSource.CALL_MANY
    )
    html = op.get(campaign_page(Campaign.objects.get(name="july"))).content.decode()
    assert BANNER in html
    assert reverse(RESUME) in html  # the operator may place calls
