"""The call list fits a 1280 px laptop screen, in English and Vietnamese, in a real Chromium.

Staff read why a call failed in the list's error column: it must not fall off the right edge
(the list would need a sideways scroll), and the kind of call reads on one line. Runs under
tests.browser.settings (see test_admin_browser.py's runner).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from django_esms_voice.errors import explain
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password"
#: Laptops in the office: 1280 px wide.
LAPTOP = {"width": 1280, "height": 800}
#: The error whose meaning is the longest, in English and Vietnamese.
LONG_ERROR = "frequency_capped"
#: How far each list cell reaches, and whether the page or the list scrolls sideways.
LAYOUT = """() => {
    const results = document.querySelector('#changelist .results');
    const cells = [...document.querySelectorAll('#result_list th, #result_list td')];
    return {
        viewport: document.documentElement.clientWidth,
        pageScroll: document.documentElement.scrollWidth,
        listScroll: results.scrollWidth, listWidth: results.clientWidth,
        rightmost: Math.max(...cells.map(cell => cell.getBoundingClientRect().right)),
        columns: Object.fromEntries([...document.querySelectorAll('#result_list thead th')].map(
            th => [th.className, Math.round(th.getBoundingClientRect().width)])),
    };
}"""
#: The lines a cell's text takes.
LINES = """cell => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size;
}"""


def calls() -> dict[str, VoiceCall]:
    """A list like an office's: answered, no answer, and a call refused for the longest reason."""
    return {
        "answered": VoiceCall.objects.create(
            phone="0901888484",
            kind="template",
            template_id="2002",
            status=CallStatus.ANSWERED,
            attempts=1,
            duration=42,
            ivr_pressed="1",
            price=Decimal("1500"),
        ),
        "no_answer": VoiceCall.objects.create(
            phone="0912345678", kind="record", template_id="1234", status=CallStatus.NO_ANSWER
        ),
        "capped": VoiceCall.objects.create(
            phone="0987654321",
            kind="template",
            template_id="2002",
            status=CallStatus.ERROR,
            last_error_code=LONG_ERROR,
            last_error_message="Not called: 0987654321 already had 1 call in the last 24 hours",
        ),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_the_call_list_fits_a_laptop_screen(
    locale: str,
    require_chromium: str,
    live_server: Any,
    page: Any,
    screenshot: Callable[[str], Path],
) -> None:
    language = locale.split("-")[0]
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    made = calls()
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/esms_voice/voicecall/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/voicecall/")
    screenshot("01-call-list")

    layout = page.evaluate(LAYOUT)
    assert layout["pageScroll"] <= layout["viewport"], layout  # no sideways scroll of the page
    assert layout["listScroll"] <= layout["listWidth"], layout  # nor of the list
    assert layout["rightmost"] <= layout["viewport"], layout  # the last column is on screen

    # The error is in view, and its whole explanation a mouse-over away.
    with translation.override(language):
        meaning = str(explain(LONG_ERROR).meaning)
    error = page.locator(f"#result_list tr:has(a:text-is('{made['capped'].phone}')) td.field-error")
    box = error.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= LAPTOP["width"]
    shown = error.locator("[title]")
    assert meaning in shown.get_attribute("title")
    assert LONG_ERROR in shown.get_attribute("title")
    # What each call said, its kind first, reads on one line.
    kinds = page.locator("#result_list td.field-said_briefly")
    assert kinds.count() == len(made)
    for index in range(kinds.count()):
        cell = kinds.nth(index)
        assert cell.evaluate(LINES) == 1, cell.inner_text()
    # The sidebar names the results eSMS sends in words staff use, not "callback".
    if language == "vi":
        assert "callback" not in page.inner_text("#nav-sidebar").lower()
        assert "Thông báo từ eSMS" in page.inner_text("#nav-sidebar")

    # The call's page says all of it: what the error means and what to do.
    page.click(f"#result_list a:text-is('{made['capped'].phone}')")
    page.wait_for_selector(".field-error_explained")
    with translation.override(language):
        advice = str(explain(LONG_ERROR).advice)
    assert advice in page.inner_text(".field-error_explained")
    screenshot("02-call-page")


# Runs inside the browser settings' subprocess (test_admin_browser.py's runner), like the others.
test_the_call_list_fits_a_laptop_screen.needs_shop_app = True  # type: ignore[attr-defined]
