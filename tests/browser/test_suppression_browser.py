"""An office worker keeps the suppression list in a real Chromium, in English and Vietnamese.

The list (empty), add one number, import a CSV with a bad row (the preview names the row and
why), confirm, see the list, export it as CSV. Runs under tests.browser.settings (see
test_admin_browser.py's runner).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import translation
from django.utils.translation import gettext, ngettext

from django_esms_voice.models import Suppression

pytestmark = pytest.mark.browser

PASSWORD = "a-long-test-password"
#: The file imported: a header, two good numbers, one that is not a number, one listed already.
CSV = "phone\n0912345678\n+84 98 765 4321\n12345\n0901888484\n"


def keeper() -> User:
    """Staff who may see, add and remove suppressed numbers."""
    user = User.objects.create_user("keeper", password=PASSWORD, is_staff=True)
    for codename in ("view_suppression", "add_suppression", "delete_suppression"):
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="esms_voice", codename=codename)
        )
    return user


def said(language: str, text: str, plural: str | None = None, count: int = 0) -> str:
    """A message as the page shows it in `language`."""
    with translation.override(language):
        if plural is not None:
            return ngettext(text, plural, count) % {"count": count}
        return gettext(text)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_an_office_worker_keeps_the_suppression_list(
    locale: str,
    require_chromium: str,
    live_server: Any,
    page: Any,
    screenshot: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    language = locale.split("-")[0]
    keeper()
    base = f"{live_server.url}/admin/esms_voice/suppression/"

    page.goto(f"{live_server.url}/admin/login/?next=/admin/esms_voice/suppression/")
    page.fill("#id_username", "keeper")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/suppression/")
    tools = page.text_content(".object-tools")
    assert said(language, "Import numbers") in tools
    assert said(language, "Add a number") in tools  # not Django's "Thêm vào số không gọi"
    screenshot("01-empty-list")

    # Add one number by hand.
    page.click(".object-tools a.addlink[href$='/add/']")
    page.fill("input[name=phone]", "0901 888 484")
    screenshot("02-add-one")
    page.click("input[name=_save]")
    page.wait_for_url(base)
    assert Suppression.objects.get().phone == "0901888484"
    screenshot("03-one-added")

    # Import a CSV with a bad row and one listed already.
    page.click(".object-tools a[href$='/import/']")
    upload = tmp_path / "khach-tu-choi.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.set_input_files("input[name=csv_file]", str(upload))
    screenshot("04-import")
    page.click(".submit-row input[type=submit]")
    page.wait_for_selector("input[name=payload]", state="attached")
    invalid = page.inner_text("table.esms-voice-invalid")
    assert "12345" in invalid
    summary = "%(count)d row is invalid and will be skipped:"
    plural = "%(count)d rows are invalid and will be skipped:"
    assert said(language, summary, plural, 1) in page.inner_text("#content")
    valid = page.inner_text("table.esms-voice-valid")
    assert "0912345678" in valid
    assert "0987654321" in valid
    assert "0901888484" not in valid  # listed already, left as it is
    screenshot("05-import-preview")
    page.click(".submit-row input[type=submit]")
    page.wait_for_url(base)
    added = "%(count)d number added to the suppression list."
    added_plural = "%(count)d numbers added to the suppression list."
    assert said(language, added, added_plural, 2) in page.inner_text("ul.messagelist")
    assert set(Suppression.objects.values_list("phone", flat=True)) == {
        "0901888484",
        "0912345678",
        "0987654321",
    }
    # The count says numbers, not "3 suppression list" (the model's plural name).
    with translation.override(language):
        counted = ngettext(
            "%(counter)s number on the list", "%(counter)s numbers on the list", 3
        ) % {"counter": 3}
    assert counted in page.inner_text("p.paginator")
    assert counted != "3 numbers on the list" or language == "en"
    screenshot("06-imported")

    # Export the list.
    with page.expect_download() as download:
        page.click(".object-tools a[href$='/export/']")
    saved = tmp_path / "export.csv"
    download.value.save_as(str(saved))
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert sorted(row[0] for row in rows[1:]) == ["0901888484", "0912345678", "0987654321"]
    assert download.value.suggested_filename.endswith(".csv")


test_an_office_worker_keeps_the_suppression_list.needs_shop_app = True  # type: ignore[attr-defined]
