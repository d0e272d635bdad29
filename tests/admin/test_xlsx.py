"""Call many numbers from an Excel workbook (.xlsx), as Vietnamese offices keep their lists."""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from django_esms_voice.admin.rows import parse_upload, parse_xlsx
from django_esms_voice.models import VoiceCall
from tests.admin.helpers import CALL_MANY, OTHER, PHONE, many_data

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(*rows: list[Any], cached: dict[str, str] | None = None) -> bytes:
    """An .xlsx made by openpyxl; `cached` gives formula cells the value Excel would store."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    if not cached:
        return data
    # openpyxl writes a formula without its result; Excel stores both.
    source, patched = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                text = content.decode()
                for cell, value in cached.items():
                    text = text.replace(f'<c r="{cell}"><f>', f'<c r="{cell}" t="n"><f>', 1)
                    start = text.index(f'<c r="{cell}"')
                    end = text.index("<v />", start)
                    text = text[:end] + f"<v>{value}</v>" + text[end + len("<v />") :]
                content = text.encode()
            target.writestr(name, content)
    return patched.getvalue()


def upload(data: bytes, name: str = "list.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=XLSX)


def test_a_workbook_is_read_with_its_excel_row_numbers_and_leading_zeros_restored() -> None:
    data = workbook(
        ["Số điện thoại", "Tên", "Số tiền", "Hạn"],  # the header
        [OTHER, "An", 150000, dt.date(2025, 1, 2)],  # the phone kept as text
        [901888484, "Bình", 200000.0, dt.datetime(2025, 1, 2, 8, 30)],  # Excel dropped the 0
        [None, None, None],  # an empty row
        [2871002454, "Chi", "=100*3"],  # a landline, and a formula
        ["0901", "Dung"],  # too short
        [84987654321, "Em"],  # +84 without the +: no 0 to restore
        cached={"C5": "300"},
    )
    rows = parse_xlsx(data)
    assert [(r.line, r.phone, r.variables, r.note) for r in rows] == [
        (2, OTHER, ["An", "150000", "02/01/2025"], ""),
        (3, PHONE, ["Bình", "200000", "02/01/2025 08:30"], "the leading 0 was restored"),
        (5, "02871002454", ["Chi", "300"], "the leading 0 was restored"),
        (6, "0901", ["Dung"], ""),
        (7, "84987654321", ["Em"], ""),
    ]


def test_a_formula_excel_never_computed_gives_no_text_of_the_formula() -> None:
    [row] = parse_xlsx(workbook([PHONE, '=A1&"x"', "An"]))
    assert row.variables == ["", "An"]


def test_call_many_previews_an_xlsx_with_its_notes_then_places_it(op: Client) -> None:
    data = workbook(
        ["phone", "name", "amount"],
        [901888484, "An", 150000],
        [OTHER, "Bình", 200000],
        [12345, "Chi", 1],
    )
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload(data), kind="template"))
    assert response.status_code == 200, response.context["form"].errors
    html = response.content.decode()
    assert f"Row 2: the leading 0 was restored ({PHONE})." in html
    assert [row.line for row in response.context["invalid"]] == [4]
    assert [(r.line, r.fields["phone"]) for r in response.context["valid"]] == [
        (2, PHONE),
        (3, OTHER),
    ]
    assert not VoiceCall.objects.exists()
    op.post(reverse(CALL_MANY), {"payload": response.context["payload"]})
    calls = VoiceCall.objects.order_by("pk")
    assert [(c.phone, c.variables) for c in calls] == [
        (PHONE, ["An", "150000"]),
        (OTHER, ["Bình", "200000"]),
    ]


def test_a_workbook_is_recognised_by_its_content_whatever_its_name(op: Client) -> None:
    data = workbook([901888484])
    assert [r.phone for r in parse_upload("danh-sach", data)] == [PHONE]
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload(data, "list.csv")))
    assert [r.fields["phone"] for r in response.context["valid"]] == [PHONE]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.xlsx", b"PK\x03\x04 not really a workbook", "cannot be read as an Excel workbook"),
        ("list.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old", "old Excel file (.xls)"),
    ],
    ids=["damaged", "xls"],
)
def test_a_file_that_is_no_workbook_is_refused_with_what_to_do(
    op: Client, name: str, content: bytes, message: str
) -> None:
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload(content, name)))
    assert message in " ".join(response.context["form"].errors["csv_file"])
    assert not VoiceCall.objects.exists()


def test_without_openpyxl_the_form_names_the_extra_to_install(
    op: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl raises ImportError
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload(workbook([PHONE]))))
    [error] = response.context["form"].errors["csv_file"]
    assert 'pip install "django-esms-voice[excel]"' in error
    assert not VoiceCall.objects.exists()


def test_a_workbook_over_the_row_limit_is_refused(
    op: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("django_esms_voice.admin.rows.MAX_ROWS", 2)
    monkeypatch.setattr("django_esms_voice.admin.forms.MAX_ROWS", 2)
    data = workbook([PHONE], [OTHER], ["0987654321"], ["0987654322"])
    assert len(parse_xlsx(data)) == 3  # it stops reading past the limit
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload(data)))
    assert "At most 2 numbers at a time" in str(response.context["form"].errors)
