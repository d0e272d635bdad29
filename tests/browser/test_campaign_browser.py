"""A manager runs a campaign from the admin in a real Chromium, in English and in Vietnamese.

Call many numbers, land on the campaign's page, pause it before any call is sent (no worker
is running yet), start the worker (it places nothing: the calls are held), resume it, watch
the counts refresh by themselves, see the chart and the cost, export the results as CSV; then
the account pause banner and its "Resume placement". Runs under tests.browser.settings (see
test_admin_browser.py's runner).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import translation
from django.utils.translation import gettext, ngettext

from django_esms_voice.models import AccountPause, Campaign, VoiceCall
from django_esms_voice.money import format_dong
from django_esms_voice.services import exporting
from django_esms_voice.states import FINAL, CallStatus, CampaignState, Hold
from django_esms_voice.testing.simulator import Outcome, Script
from tests.integration.conftest import Harness, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password"
PRICE = "850.0000"
# The numbers pasted into call-many, and how the simulator ends each call.
NUMBERS = [
    ("0901888484", Outcome.answered(ivr="1", duration=21, price=PRICE)),
    ("0912345678", Outcome.answered(duration=34, price=PRICE)),
    ("0987654321", Outcome.answered(ivr="1", duration=12, price=PRICE)),
    ("0933111222", Outcome.no_answer()),
    ("0977000111", Outcome.failed()),
]
PERMISSIONS = [
    ("esms_voice", "view_voicecall"),
    ("esms_voice", "add_voicecall"),
    ("esms_voice", "place_voicecall"),
    ("esms_voice", "view_callbackevent"),
    ("esms_voice", "view_campaign"),
    ("esms_voice", "run_campaign"),
]


def manager() -> User:
    """Staff who may place calls and run campaigns."""
    user = User.objects.create_user("manager", password=PASSWORD, is_staff=True)
    for app_label, codename in PERMISSIONS:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def said(language: str, text: str, *args: Any) -> str:
    """A message as the page shows it in `language` (gettext, or ngettext with its count)."""
    with translation.override(language):
        if len(args) == 2:
            return ngettext(text, args[0], args[1]) % {"count": args[1]}
        return gettext(text)


def messages(page: Any) -> str:
    return str(page.inner_text("ul.messagelist"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_a_manager_runs_a_campaign_from_call_many(
    locale: str,
    require_chromium: str,
    harness: Harness,
    live_server: Any,
    page: Any,
    screenshot: Callable[[str], Path],
) -> None:
    language = locale.split("-")[0]
    harness.configure(CALLBACK_BASE_URL=live_server.url)
    harness.sim.callback_delay = 0.3
    for phone, outcome in NUMBERS:
        harness.sim.script(phone, Script(outcome))
    manager()

    page.goto(f"{live_server.url}/admin/login/?next=/admin/esms_voice/voicecall/call-many/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/call-many/")
    page.fill("textarea[name=numbers]", "\n".join(phone for phone, _ in NUMBERS))
    page.check("input[name=kind][value=record]")
    page.fill("input[name=template_id]", "1234")
    page.fill("input[name=batch]", "Nhắc lịch hẹn tháng 12")
    screenshot("01-call-many")
    page.click(".submit-row input[type=submit]")
    page.wait_for_selector("input[name=payload]", state="attached")
    screenshot("02-call-many-preview")
    page.click(".submit-row input[type=submit]")

    page.wait_for_url("**/admin/esms_voice/campaign/*/change/")
    campaign = Campaign.objects.get()
    assert campaign.name == "Nhắc lịch hẹn tháng 12"
    assert "Nhắc lịch hẹn tháng 12" in page.inner_text("h1")
    screenshot("03-campaign-created")

    # No worker runs yet: the calls wait in the queue, and the pause holds all of them.
    page.click("form[action$='/pause/'] button")
    page.wait_for_selector("form[action$='/resume/']")
    held = "Campaign paused: %(count)d call held. Calls already with eSMS finish."
    held_plural = "Campaign paused: %(count)d calls held. Calls already with eSMS finish."
    assert said(language, held, held_plural, 5) in messages(page)
    assert VoiceCall.objects.filter(hold=Hold.CAMPAIGN_PAUSED).count() == 5
    screenshot("04-campaign-paused")

    harness.start_worker(concurrency=4)
    time.sleep(2)  # the worker takes the five queued tasks and claims nothing: all are held
    assert VoiceCall.objects.filter(status=CallStatus.PENDING).count() == 5
    assert harness.sim.accepted() == []

    page.click("form[action$='/resume/'] button")
    page.wait_for_selector("form[action$='/pause/']")
    released = "Campaign resumed: %(count)d call released to be placed."
    released_plural = "Campaign resumed: %(count)d calls released to be placed."
    assert said(language, released, released_plural, 5) in messages(page)
    wait_until(
        lambda: VoiceCall.objects.filter(status__in=FINAL).count() == 5,
        60,
        lambda: f"{list(VoiceCall.objects.values_list('phone', 'status'))}\n{harness.logs()}",
    )
    # The counts refresh by themselves (the page's script polls the progress view).
    page.wait_for_function(
        "document.querySelector('[data-live=\"progress\"]').textContent.trim() === '5 / 5'",
        timeout=30_000,
    )

    # The last call's end completes the campaign: the page reloads itself, says so, and shows
    # no pause button (nothing is calling any more).
    page.wait_for_selector("#esms-voice-campaign[data-state='completed']", timeout=30_000)
    with translation.override(language):
        completed = str(CampaignState.COMPLETED.label)
    assert page.inner_text("[data-live='state']").strip() == completed
    assert page.locator("form[action$='/pause/']").count() == 0
    cost = format_dong(Decimal(PRICE) * 3, language)
    assert cost in page.inner_text(".esms-voice-cost")
    assert page.locator(".esms-voice-timeline-chart rect").count() >= 3
    answered_part = page.get_attribute('.esms-voice-bar [data-part="answered"]', "style")
    assert answered_part == "width: 60.000%"  # 3 of the 5 calls
    screenshot("05-campaign-results")

    with page.expect_download() as download_info:
        page.click(".esms-voice-tools a[href$='/export/csv/']")
    download = download_info.value
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    with translation.override(language):
        assert rows[0] == exporting.headers()
        answered = str(CallStatus.ANSWERED.label)
    assert [row[:2] for row in rows[1:4]] == [[phone, answered] for phone, _ in NUMBERS[:3]]
    assert download.suggested_filename.endswith(".csv")

    page.goto(f"{live_server.url}/admin/esms_voice/campaign/")
    assert "5 / 5" in page.inner_text("#result_list")
    assert cost in page.inner_text("#result_list")
    assert page.inner_text("#result_list .esms-voice-state").strip() == completed
    screenshot("06-campaign-list")
    page.click("text=" + said(language, "Overview of the calls"))
    page.wait_for_selector(".esms-voice-periods")
    screenshot("07-overview")

    # eSMS refused a call for the account: the banner says so on every page, until resumed.
    AccountPause.objects.create(
        code="103",
        message="Balance not enough",
        call=VoiceCall.objects.first(),
        last_probe_at=campaign.created_at,
        last_balance=Decimal("4500"),
    )
    page.goto(f"{live_server.url}/admin/esms_voice/campaign/{campaign.pk}/change/")
    banner = page.inner_text(".esms-voice-account-pause")
    assert said(language, "eSMS voice calls are paused for the whole account") in banner
    assert format_dong(4500, language) in banner
    screenshot("08-account-paused")
    page.click(".esms-voice-account-pause button[type=submit]")
    page.wait_for_selector("ul.messagelist")
    assert page.locator(".esms-voice-account-pause").count() == 0
    assert not AccountPause.objects.get().is_open


test_a_manager_runs_a_campaign_from_call_many.needs_shop_app = True  # type: ignore[attr-defined]
