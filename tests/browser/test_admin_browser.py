"""An operator calls three customers from the example project's admin, in a real Chromium.

Log in, select three customers, run "Call the selected customers", fill in the script, confirm;
a real Celery worker places the calls on the eSMS simulator, whose callbacks reach the live
server, and the calls' list shows their final results.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User

from django_esms_voice.esms.phone import normalize_phone
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import FINAL, CallStatus
from django_esms_voice.testing.simulator import Outcome, Script
from tests.conftest import service_unavailable
from tests.integration.conftest import Harness, wait_until

from .conftest import REPO_ROOT, browser_missing_reason, record_screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password"
SUBPROCESS_TIMEOUT = 540
# Name, phone, amount, and how the simulator ends the call to that phone.
CUSTOMERS = [
    ("Nguyễn Văn An", "0901888484", 150_000, Outcome.answered(ivr="1")),
    ("Trần Thị Bình", "+84 912 345 678", 200_000, Outcome.no_answer()),
    ("Lê Văn Cường", "0987 654 321", 50_000, Outcome.failed()),
]


def operator() -> User:
    """A staff user who may see customers and calls, and place calls."""
    user = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    for app_label, codename in [
        ("shop", "view_customer"),
        ("esms_voice", "view_voicecall"),
        ("esms_voice", "add_voicecall"),
        ("esms_voice", "place_voicecall"),
        ("esms_voice", "view_callbackevent"),
    ]:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.mark.django_db(transaction=True)
def test_an_operator_calls_three_customers_from_the_admin(
    require_chromium: str,
    harness: Harness,
    live_server: Any,
    page: Any,
    screenshot: Callable[[str], Path],
) -> None:
    from shop.models import Customer

    harness.configure(CALLBACK_BASE_URL=live_server.url)
    harness.sim.callback_delay = 0.5
    for _, phone, _, outcome in CUSTOMERS:
        harness.sim.script(normalize_phone(phone), Script(outcome))
    harness.start_worker(concurrency=4)
    operator()
    customers = [
        Customer.objects.create(name=name, phone=phone, amount=amount)
        for name, phone, amount, _ in CUSTOMERS
    ]
    Customer.objects.create(name="Not called", phone="0911111111")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/shop/customer/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/shop/customer/")
    for customer in customers:
        page.check(f"input[name=_selected_action][value='{customer.pk}']")
    page.select_option("select[name=action]", "esms_voice_call_phone")
    screenshot("01-customers-selected")
    page.click("button[name=index]")

    page.wait_for_selector("text=3 numbers will be called")
    page.check("input[name=kind][value=template]")
    page.fill("input[name=template_id]", "2002")
    page.select_option("select[name=voice]", "female")
    screenshot("02-call-form")
    page.click("input[type=submit][value='Place 3 calls']")

    page.wait_for_url("**/admin/esms_voice/campaign/*/change/")  # the new campaign's page
    assert "3 calls queued." in page.inner_text("ul.messagelist")
    screenshot("03-calls-queued")
    page.click("text=See its calls")
    page.wait_for_url("**/admin/esms_voice/voicecall/?campaign=*")

    wait_until(
        lambda: VoiceCall.objects.filter(status__in=FINAL).count() == 3,
        60,
        lambda: f"{list(VoiceCall.objects.values_list('phone', 'status'))}\n{harness.logs()}",
    )
    calls = {call.phone: call for call in VoiceCall.objects.all()}
    assert {phone: call.status for phone, call in calls.items()} == {
        "0901888484": CallStatus.ANSWERED,
        "0912345678": CallStatus.NO_ANSWER,
        "0987654321": CallStatus.FAILED,
    }
    assert {call.content_object for call in calls.values()} == set(customers)
    assert calls["0901888484"].variables == ["Nguyễn Văn An", "150000"]
    assert len({call.batch for call in calls.values()}) == 1

    page.reload()
    badges = sorted(page.locator(".esms-voice-status").all_inner_texts())
    assert badges == ["Answered", "Failed", "No answer"]
    screenshot("04-calls-final")

    page.click("text=0901888484")
    page.wait_for_selector(".esms-voice-timeline")
    timeline = page.inner_text(".esms-voice-timeline")
    assert "Accepted by eSMS" in timeline
    assert "Callback from eSMS: Applied" in timeline
    assert "Completed: Answered" in timeline
    # What staff need comes first; the stored fields wait, collapsed, below.
    assert page.inner_text(".field-outcome").strip().endswith("The call was answered.")
    assert "Nguyễn Văn An" in page.inner_text(".field-linked_object")
    assert not page.locator(".field-send_status_shown").first.is_visible()
    screenshot("05-call-page")
    # The same page in Vietnamese (LocaleMiddleware reads the language cookie first).
    page.context.add_cookies([{"name": "django_language", "value": "vi", "url": live_server.url}])
    page.reload()
    assert "Cuộc gọi đã được nghe máy." in page.inner_text(".field-outcome")
    screenshot("06-call-page-vi")
    # A call eSMS refused: its error explained, and a button to retry it.
    refused = VoiceCall.objects.create(
        phone="0911111111",
        kind="record",
        template_id="1234",
        status=CallStatus.REJECTED,
        attempts=1,
        last_error_code="103",
    )
    page.goto(f"{live_server.url}/admin/esms_voice/voicecall/{refused.pk}/change/")
    assert "(103)" in page.inner_text(".field-error_explained")
    assert page.locator(".esms-voice-call-button button").all_text_contents() == [
        "Thử lại cuộc gọi này"
    ]
    screenshot("07-refused-call-vi")


test_an_operator_calls_three_customers_from_the_admin.needs_shop_app = True  # type: ignore[attr-defined]


@pytest.mark.timeout(SUBPROCESS_TIMEOUT + 60)
def test_the_browser_test_runs_under_its_own_settings() -> None:
    """Run the browser tests (this module's and the campaign's) in a pytest subprocess."""
    reason = browser_missing_reason()
    if reason is not None:
        service_unavailable(reason)
    # A database of its own: this run's test database is in use.
    test_db = settings.DATABASES["default"].get("TEST", {}).get("NAME") or "test_esms_voice"
    env = {
        **os.environ,
        "ESMS_VOICE_TEST_DB_NAME": f"{test_db}_browser",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [
        sys.executable, "-m", "pytest", str(Path(__file__).parent.relative_to(REPO_ROOT)),
        "--ds", "tests.browser.settings", "-p", "no:cacheprovider", "-q", "-rs", "-s",
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603 - fixed arguments
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    print(output)  # noqa: T201 - the inner run's report, shown with -s or on failure
    for line in output.splitlines():
        if line.startswith("screenshot: "):
            record_screenshot(line.removeprefix("screenshot: "))
    skipped = re.search(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", output, flags=re.MULTILINE)
    if result.returncode == 0 and skipped and " passed" not in output:
        service_unavailable(skipped.group(1))
    assert result.returncode == 0, output[-6000:]
    # Every browser test of the folder ran and passed, none skipped (this wrapper deselects
    # itself): the operator's, the campaign's and the suppression list's, each in en and vi,
    # and the breadcrumbs and widgets check.
    passed = re.search(r"\b(\d+) passed\b", output)
    assert passed is not None, output[-6000:]
    assert not re.search(r"\b\d+ skipped\b", output), output[-6000:]
    assert int(passed.group(1)) >= 5, output[-6000:]


test_the_browser_test_runs_under_its_own_settings.needs_shop_app = False  # type: ignore[attr-defined]
