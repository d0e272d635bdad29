"""The suppression list in the admin: list, search, add, import with a preview, export."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from django_esms_voice import services
from django_esms_voice.models import IdempotencyKey, Suppression
from tests.admin.helpers import OTHER, PHONE, THIRD, login, messages_of, staff

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

LIST = "admin:esms_voice_suppression_changelist"
ADD = "admin:esms_voice_suppression_add"
IMPORT = "admin:esms_voice_suppression_import"
EXPORT = "admin:esms_voice_suppression_export"
ALL = (
    "esms_voice.view_suppression",
    "esms_voice.add_suppression",
    "esms_voice.delete_suppression",
)


@pytest.fixture
def manager() -> User:
    return staff("manager", *ALL)


@pytest.fixture
def client(manager: User) -> Client:
    return login(manager)


def test_the_list_shows_each_entry_and_finds_a_number_in_any_spelling(client: Client) -> None:
    services.suppress(PHONE, reason="complained", source="ticket 12")
    services.suppress(OTHER, reason="national_dnc")
    response = client.get(reverse(LIST))
    assert response.status_code == 200
    page = response.content.decode()
    assert PHONE in page
    assert OTHER in page
    assert "ticket 12" in page
    assert reverse(IMPORT) in page
    assert reverse(EXPORT) in page
    for term in ("+84 90 188 8484", "84901888484", "090.188.8484"):
        found = client.get(reverse(LIST), {"q": term}).context["cl"].result_list
        assert [entry.phone for entry in found] == [PHONE]
    assert not client.get(reverse(LIST), {"q": "garbage"}).context["cl"].result_list
    found = client.get(reverse(LIST), {"reason": "national_dnc"}).context["cl"].result_list
    assert [entry.phone for entry in found] == [OTHER]


def test_the_add_form_normalises_and_records_who_added_it(client: Client, manager: User) -> None:
    response = client.post(reverse(ADD), {"phone": "+84 90 188 8484", "reason": "opted_out"})
    assert response.status_code == 302
    entry = Suppression.objects.get()
    assert (entry.phone, entry.added_by, entry.source) == (PHONE, manager, "admin")
    again = client.post(reverse(ADD), {"phone": "0901 888 484", "reason": "other"})
    assert again.status_code == 200  # the same number: refused on its field
    assert "phone" in again.context["adminform"].form.errors
    bad = client.post(reverse(ADD), {"phone": "12345", "reason": "other"})
    assert "phone" in bad.context["adminform"].form.errors
    assert Suppression.objects.count() == 1


def test_delete_needs_the_delete_permission() -> None:
    entry = services.suppress(PHONE)
    url = reverse("admin:esms_voice_suppression_delete", args=[entry.pk])
    viewer = login(staff("viewer", "esms_voice.view_suppression"))
    assert viewer.get(reverse(LIST)).status_code == 200
    assert viewer.post(url, {"post": "yes"}).status_code == 403
    assert viewer.get(reverse(ADD)).status_code == 403
    assert viewer.get(reverse(IMPORT)).status_code == 403
    deleter = login(
        staff("deleter", "esms_voice.view_suppression", "esms_voice.delete_suppression")
    )
    assert deleter.post(url, {"post": "yes"}).status_code == 302
    assert not Suppression.objects.exists()
    nobody = login(staff("nobody"))
    assert nobody.get(reverse(LIST)).status_code == 403
    assert nobody.get(reverse(EXPORT)).status_code == 403


def csv_file(text: str, name: str = "dnc.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8-sig"), content_type="text/csv")


def test_the_import_previews_bad_rows_and_adds_once_confirmed(client: Client) -> None:
    services.suppress(THIRD, reason="complained")
    upload = csv_file(f"phone\n{PHONE}\n12345\n+84 90 188 8484\n{THIRD}\n{OTHER}\n")
    preview = client.post(reverse(IMPORT), {"csv_file": upload, "reason": "national_dnc"})
    assert preview.status_code == 200
    assert [(p.line, p.text) for p in preview.context["problems"]] == [
        (3, "12345"), (4, "+84 90 188 8484"),
    ]  # fmt: skip
    page = preview.content.decode()
    assert "The same number as line 2." in page
    assert "12345" in page
    assert "2 numbers will be added" in page
    assert "1 number is on the list already" in page
    assert Suppression.objects.count() == 1  # nothing added before the confirmation
    payload = preview.context["payload"]

    done = client.post(reverse(IMPORT), {"payload": payload})
    assert done.status_code == 302
    added = Suppression.objects.exclude(phone=THIRD)
    assert sorted(added.values_list("phone", flat=True)) == [PHONE, OTHER]
    assert {(e.reason, e.source, e.added_by.username) for e in added} == {  # type: ignore[union-attr]
        ("national_dnc", "dnc.csv", "manager")
    }
    assert Suppression.objects.get(phone=THIRD).reason == "complained"

    Suppression.objects.filter(phone=PHONE).delete()
    replayed = client.post(reverse(IMPORT), {"payload": payload}, follow=True)
    assert not Suppression.objects.filter(phone=PHONE).exists()  # the replay added nothing
    assert any("already imported" in m for m in messages_of(replayed))
    assert IdempotencyKey.objects.filter(scope="admin.suppression_import").count() == 1


def test_a_confirmation_of_another_user_or_forged_adds_nothing(client: Client) -> None:
    preview = client.post(reverse(IMPORT), {"numbers": PHONE, "reason": "opted_out"})
    payload = preview.context["payload"]
    other = login(staff("other", *ALL))
    assert other.post(reverse(IMPORT), {"payload": payload}).status_code == 302
    assert client.post(reverse(IMPORT), {"payload": payload + "x"}).status_code == 302
    assert not Suppression.objects.exists()


def test_an_excel_number_that_lost_its_leading_zero_is_read_back(client: Client) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["Số điện thoại"], [901888484], ["0912345678"], ["abc"]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    upload = SimpleUploadedFile("list.xlsx", out.getvalue())
    preview = client.post(reverse(IMPORT), {"csv_file": upload, "reason": "opted_out"})
    assert preview.context["new"] == [(2, PHONE), (3, OTHER)]
    assert [p.line for p in preview.context["problems"]] == [4]
    assert "the leading 0 was restored" in preview.content.decode()
    client.post(reverse(IMPORT), {"payload": preview.context["payload"]})
    assert set(Suppression.objects.values_list("phone", flat=True)) == {PHONE, OTHER}


def test_an_empty_or_unreadable_import_stays_on_the_form(client: Client) -> None:
    empty = client.post(reverse(IMPORT), {"reason": "opted_out"})
    assert empty.status_code == 200
    assert empty.context["form"].errors
    old = SimpleUploadedFile("old.xls", b"\xd0\xcf\x11\xe0rest")
    assert "csv_file" in client.post(reverse(IMPORT), {"csv_file": old}).context["form"].errors


def test_the_export_streams_the_list_with_the_numbers_as_text(client: Client) -> None:
    services.suppress(PHONE, reason="complained", source="=cmd()")
    response = client.get(reverse(EXPORT))
    assert response.status_code == 200
    assert response.streaming
    assert "suppression-list-" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")  # type: ignore[arg-type]
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "Phone number,Reason,Source,Added by,Added"
    assert lines[1].startswith(f"{PHONE},Complained,'=cmd(),,")
