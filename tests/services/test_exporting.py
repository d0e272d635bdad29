"""Export: a campaign's calls as CSV and .xlsx, streamed in chunks, phones kept as text."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
import sys
from decimal import Decimal
from typing import Any
from unittest import mock

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.utils import translation

from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.services import exporting
from django_esms_voice.services.exporting import (
    EXPORT_CHUNK_SIZE,
    ExcelNotInstalled,
    export_filename,
    stream_csv,
    write_xlsx,
)
from django_esms_voice.signing import callback_token
from django_esms_voice.states import CallStatus

pytestmark = pytest.mark.django_db

CREATED = dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.UTC)  # 17:30 in Hồ Chí Minh City


def campaign(name: str = "Nhắc lịch hẹn") -> Campaign:
    return Campaign.objects.create(name=name, kind="record", template_id="rec-1")


def answered_and_refused(owner: Campaign) -> tuple[VoiceCall, VoiceCall]:
    """An answered call linked to a host object, and a refused one."""
    group = Group.objects.create(name=f"khách hàng {owner.pk}")
    answered = VoiceCall.objects.create(
        kind="record",
        template_id="rec-1",
        phone="0901888484",
        status=CallStatus.ANSWERED,
        ivr_pressed="1",
        duration=13,
        price=Decimal("750.0000"),
        campaign=owner,
        content_type=ContentType.objects.get_for_model(Group),
        object_id=str(group.pk),
        variables=["mã-bí-mật-ZQX"],
        metadata={"note": "secret-ish"},
    )
    refused = VoiceCall.objects.create(
        kind="record",
        template_id="rec-1",
        phone="0912345678",
        status=CallStatus.REJECTED,
        last_error_code="108",
        last_error_message="eSMS MakeCallRecord_V2: 108",
        campaign=owner,
    )
    VoiceCall.objects.filter(pk=answered.pk).update(
        created_at=CREATED, completed_at=CREATED + dt.timedelta(minutes=2)
    )
    VoiceCall.objects.filter(pk=refused.pk).update(created_at=CREATED + dt.timedelta(seconds=1))
    return answered, refused


def read_csv(target: Campaign | QuerySet[VoiceCall]) -> tuple[str, list[list[str]]]:
    text = "".join(stream_csv(target))
    return text, list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_csv_has_the_columns_a_manager_reads() -> None:
    owner = campaign()
    answered, refused = answered_and_refused(owner)
    answered_and_refused(campaign("Other"))  # another campaign's calls are not exported

    text, (header, *lines) = read_csv(owner)

    assert text.startswith("\ufeff")  # so that Excel reads UTF-8
    assert header == [
        "Phone number",
        "Status",
        "Key pressed",
        "Duration (s)",
        "Price (đồng)",
        "Error code",
        "Error",
        "Created",
        "Completed",
        "Linked to",
        "Linked object id",
        "Campaign",
        "Call id",
    ]
    assert lines == [
        [
            "0901888484",
            "Answered",
            "1",
            "13",
            "750",
            "",
            "",
            "2026-12-03 17:30:00",  # local time
            "2026-12-03 17:32:00",
            "group",
            answered.object_id,
            "Nhắc lịch hẹn",
            str(answered.uuid),
        ],
        [
            "0912345678",
            "Rejected by eSMS",
            "",
            "",
            "",
            "108",
            "Phone number has a wrong format",
            "2026-12-03 17:30:01",
            "",
            "",
            "",
            "Nhắc lịch hẹn",
            str(refused.uuid),
        ],
    ]


def test_the_csv_reads_in_vietnamese() -> None:
    answered_and_refused(owner := campaign())
    with translation.override("vi"):
        _, (header, _, second) = read_csv(owner)
    assert header[:2] == ["Số điện thoại", "Trạng thái"]
    assert second[1] == "Bị eSMS từ chối"
    assert second[6] == "Số điện thoại sai định dạng"


def test_no_token_secret_variable_or_metadata_is_exported() -> None:
    answered, _ = answered_and_refused(owner := campaign())
    text, _ = read_csv(owner)
    xlsx = write_xlsx(owner).read()
    for secret in (callback_token(answered.uuid), "mã-bí-mật-ZQX", "secret-ish", "test-secret"):
        assert secret not in text
        assert secret.encode() not in xlsx  # the zip is deflated: also check the cells
    sheet = openpyxl.load_workbook(write_xlsx(owner), read_only=True).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    assert not any(callback_token(answered.uuid) in c or "ZQX" in c for c in cells)


def test_text_a_spreadsheet_would_run_as_a_formula_stays_text() -> None:
    owner = campaign('=HYPERLINK("http://evil.test","click")')
    answered_and_refused(owner)
    _, (_, first, _) = read_csv(owner)
    assert first[11] == '\'=HYPERLINK("http://evil.test","click")'
    sheet = openpyxl.load_workbook(write_xlsx(owner)).active
    assert sheet["L2"].data_type == "s"
    assert sheet["L2"].value == '=HYPERLINK("http://evil.test","click")'


def test_the_xlsx_keeps_phone_numbers_as_text_and_numbers_as_numbers() -> None:
    answered_and_refused(owner := campaign())
    sheet = openpyxl.load_workbook(write_xlsx(owner)).active
    assert [c.value for c in sheet[1]][:3] == ["Phone number", "Status", "Key pressed"]
    phone = sheet["A2"]
    assert (phone.data_type, phone.value) == ("s", "0901888484")
    assert sheet["C2"].data_type == "s"  # the key pressed, as eSMS reported it
    assert (sheet["D2"].data_type, sheet["D2"].value) == ("n", 13)
    assert (sheet["E2"].data_type, sheet["E2"].value) == ("n", 750)
    assert sheet["H2"].value == dt.datetime(2026, 12, 3, 17, 30)  # local time, no zone
    assert sheet["G3"].value == "Phone number has a wrong format"
    assert sheet.max_row == 3


def test_the_xlsx_can_be_written_into_a_given_file() -> None:
    answered_and_refused(owner := campaign())
    out = io.BytesIO()
    assert write_xlsx(VoiceCall.objects.filter(campaign=owner), out) is out
    assert openpyxl.load_workbook(out).active.max_row == 3


def test_without_openpyxl_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now fails
    with pytest.raises(ExcelNotInstalled, match=r'pip install "django-esms-voice\[excel\]"'):
        write_xlsx(campaign())


def test_the_csv_is_a_lazy_generator_reading_the_calls_in_chunks(
    django_assert_num_queries: Any,
) -> None:
    answered_and_refused(owner := campaign())
    with django_assert_num_queries(0):
        pieces = stream_csv(owner)
    assert inspect.isgenerator(pieces)
    real = QuerySet.iterator
    with mock.patch.object(QuerySet, "iterator", autospec=True, side_effect=real) as iterator:
        assert len(list(pieces)) == 2  # the header, then the two rows
    assert iterator.call_args.kwargs == {"chunk_size": EXPORT_CHUNK_SIZE}


@pytest.mark.parametrize("calls", [10, 1000])
def test_an_export_takes_one_query_whatever_the_number_of_calls(
    calls: int, django_assert_num_queries: Any
) -> None:
    owner = campaign()
    group_type = ContentType.objects.get_for_model(Group)
    VoiceCall.objects.bulk_create(
        VoiceCall(
            kind="record",
            template_id="rec-1",
            phone=f"090{i:07d}",
            campaign=owner,
            content_type=group_type if i % 2 else None,
            object_id=str(i),
        )
        for i in range(calls)
    )
    with django_assert_num_queries(1):
        _, (_, *lines) = read_csv(owner)
    assert len(lines) == calls
    with django_assert_num_queries(1):
        sheet = openpyxl.load_workbook(write_xlsx(owner), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == calls + 1


def test_the_csv_comes_in_pieces_of_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporting, "CSV_ROWS_PER_PIECE", 2)
    owner = campaign()
    VoiceCall.objects.bulk_create(
        VoiceCall(kind="record", template_id="rec-1", phone=f"090{i:07d}", campaign=owner)
        for i in range(5)
    )
    pieces = list(stream_csv(owner))
    assert [piece.count("\n") for piece in pieces] == [1, 2, 2, 1]


def test_an_export_is_named_after_its_campaign() -> None:
    name = export_filename(campaign("Nhắc lịch hẹn tháng 12"), "xlsx")
    assert name.startswith("nhac-lich-hen-thang-12-")
    assert name.endswith(".xlsx")
    assert export_filename(VoiceCall.objects.all(), "csv").startswith("calls-")
