"""The app's own admin pages look like Django's on the running version, in a real Chromium.

Django 6.1 changed the admin's breadcrumbs (a ``div`` with ``&rsaquo;`` became an ``ol`` of
``li``, styled only as such) and stopped importing widgets.css from forms.css: call-many's
breadcrumbs must be styled like a stock page's and its date and time widgets keep their icons.
Runs under tests.browser.settings (see test_admin_browser.py's runner).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password"
#: What the browser computes for the breadcrumbs bar: the stock pages' and ours must agree.
BAR_STYLE = """bar => {
    const style = getComputedStyle(bar);
    return {
        tag: bar.tagName, classes: bar.className, background: style.backgroundColor,
        padding: style.padding, height: bar.getBoundingClientRect().height,
        children: [...new Set([...bar.children].map(child => child.tagName))],
        crumbs: bar.innerText.replace(/\\s+/g, " ").trim(),
    };
}"""


def bar(page: Any) -> dict[str, Any]:
    """The breadcrumbs bar of the page shown, as the browser renders it."""
    return dict(page.eval_on_selector(".breadcrumbs", BAR_STYLE))


@pytest.mark.django_db(transaction=True)
def test_call_many_has_the_running_admins_breadcrumbs_and_widget_icons(
    require_chromium: str, live_server: Any, page: Any, screenshot: Callable[[str], Path]
) -> None:
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/esms_voice/voicecall/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/voicecall/")
    stock = bar(page)

    page.goto(f"{live_server.url}/admin/esms_voice/voicecall/call-many/")
    ours = bar(page)
    screenshot("01-call-many")

    assert (ours["tag"], ours["classes"]) == (stock["tag"], stock["classes"])
    assert ours["background"] == stock["background"]
    assert ours["background"] not in ("", "rgba(0, 0, 0, 0)")  # styled, not bare
    assert ours["padding"] == stock["padding"]
    assert ours["height"] == stock["height"]  # one line, like the stock bar
    assert ours["children"] == stock["children"]  # links in a div, or items in a list
    # Home, the app, the calls (links), then the page itself.
    assert page.locator(".breadcrumbs a").count() == 3
    assert ours["crumbs"].startswith(stock["crumbs"])  # Home, the app, the calls
    assert ours["crumbs"].endswith(page.inner_text("#content h1"))

    assert page.locator("link[rel=stylesheet][href$='admin/css/widgets.css']").count() >= 1
    for icon in (".date-icon", ".clock-icon"):
        image = page.eval_on_selector(icon, "e => getComputedStyle(e).backgroundImage")
        assert image != "none", icon


# Runs inside the browser settings' subprocess (test_admin_browser.py's runner), like the others.
test_call_many_has_the_running_admins_breadcrumbs_and_widget_icons.needs_shop_app = True  # type: ignore[attr-defined]
