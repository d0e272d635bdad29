"""A campaign's calls (or any set of calls) as CSV or Excel, row by row, never all in memory.

The rows are read with ``.iterator(chunk_size=EXPORT_CHUNK_SIZE)``: a server-side cursor on
PostgreSQL, chunked fetches elsewhere. The CSV is a generator (for StreamingHttpResponse);
the .xlsx is written by openpyxl's write-only workbook into a temporary file, which the
caller streams (FileResponse): an .xlsx is a zip, whose directory is written last, so it
cannot go out before it is finished. Neither holds variables, metadata, tokens or secrets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from django.apps import apps
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import slugify
from django.utils.translation import pgettext, pgettext_lazy

from ..errors import explain
from ..exceptions import EsmsVoiceError
from ..models import Campaign, VoiceCall
from ..states import status_label

EXPORT_CHUNK_SIZE = 2000
#: Rows the CSV generator joins into one piece of the response.
CSV_ROWS_PER_PIECE = 200
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 (Vietnamese intact) only after this mark
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Text cells a spreadsheet would run as a formula (CSV injection); they get a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: The columns, in order: the header a person reads, and the field read from each call.
COLUMNS: tuple[tuple[str | Promise, str], ...] = (
    (pgettext_lazy("export column", "Phone number"), "phone"),
    (pgettext_lazy("export column", "Status"), "status"),
    (pgettext_lazy("export column", "Key pressed"), "ivr_pressed"),
    (pgettext_lazy("export column", "Duration (s)"), "duration"),
    (pgettext_lazy("export column", "Price (đồng)"), "price"),
    (pgettext_lazy("export column", "Error code"), "last_error_code"),
    (pgettext_lazy("export column", "Error"), "error"),
    (pgettext_lazy("export column", "Created"), "created_at"),
    (pgettext_lazy("export column", "Completed"), "completed_at"),
    (pgettext_lazy("export column", "Linked to"), "linked_type"),
    (pgettext_lazy("export column", "Linked object id"), "object_id"),
    (pgettext_lazy("export column", "Campaign"), "campaign__name"),
    (pgettext_lazy("export column", "Call id"), "uuid"),
)
_READ = (
    "phone",
    "status",
    "ivr_pressed",
    "duration",
    "price",
    "last_error_code",
    "created_at",
    "completed_at",
    "content_type__app_label",
    "content_type__model",
    "object_id",
    "campaign__name",
    "uuid",
)


class ExcelNotInstalled(EsmsVoiceError, ImportError):
    """openpyxl, which writes .xlsx files, is an optional extra that is not installed."""

    def __init__(self) -> None:
        super().__init__(
            'Exporting to Excel needs openpyxl: pip install "django-esms-voice[excel]"'
        )


def _calls(target: Campaign | QuerySet[VoiceCall]) -> QuerySet[VoiceCall]:
    calls = VoiceCall.objects.filter(campaign=target) if isinstance(target, Campaign) else target
    return calls.order_by("created_at", "pk")


def _linked_type(app_label: str | None, model: str | None) -> str:
    """The linked object's kind as its model names it ("order"), else app_label.model."""
    if not app_label or not model:
        return ""
    try:
        return str(apps.get_model(app_label, model)._meta.verbose_name)
    except LookupError:  # a model removed since: its content type is still there
        return f"{app_label}.{model}"


def _local(moment: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    """A moment as a naive local time: what a spreadsheet shows (it has no time zones)."""
    return moment.astimezone(tz).replace(tzinfo=None) if moment else None


def rows(target: Campaign | QuerySet[VoiceCall]) -> Iterator[dict[str, Any]]:
    """Yield each call's exported values (typed: Decimal, int, naive local datetime, str)."""
    labels: dict[str, str] = {}  # translated once per status, not once per row
    meanings: dict[str, str] = {}
    tz = timezone.get_current_timezone()  # once: asking for it per row was a fifth of the time
    for values in _calls(target).values(*_READ).iterator(chunk_size=EXPORT_CHUNK_SIZE):
        status, code = values["status"], values["last_error_code"]
        if status not in labels:
            labels[status] = status_label(status)
        if code and code not in meanings:
            meanings[code] = str(explain(code).meaning)
        yield {
            **values,
            "status": labels[status],
            "error": meanings.get(code, ""),
            "created_at": _local(values["created_at"], tz),
            "completed_at": _local(values["completed_at"], tz),
            "linked_type": _linked_type(
                values["content_type__app_label"], values["content_type__model"]
            ),
            "campaign__name": values["campaign__name"] or "",
            "uuid": str(values["uuid"]),
        }


def headers() -> list[str]:
    """The column headers, in the active language."""
    return [str(title) for title, _ in COLUMNS]


def _csv_value(value: Any) -> str:
    """A value as CSV text; text a spreadsheet would run as a formula gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"  # 500.0000 → 500
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def stream_csv(target: Campaign | QuerySet[VoiceCall]) -> Iterator[str]:
    """Yield the calls as CSV (UTF-8 with a BOM, headers in the active language), in pieces.

    Lazy: nothing is read before the first piece is asked for.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers())
    yield BOM + _take(buffer)
    names = [name for _, name in COLUMNS]
    for count, row in enumerate(rows(target), start=1):
        writer.writerow([_csv_value(row[name]) for name in names])
        if count % CSV_ROWS_PER_PIECE == 0:
            yield _take(buffer)
    rest = _take(buffer)
    if rest:
        yield rest


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_xlsx(target: Campaign | QuerySet[VoiceCall], file: IO[bytes] | None = None) -> IO[bytes]:
    """Write the calls as an .xlsx into `file` (a new temporary file by default), rewound.

    Phone numbers and every other text are text cells: Excel keeps 0901888484's leading 0.
    Raises ExcelNotInstalled without openpyxl (the ``excel`` extra).
    """
    try:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
    except ImportError:
        raise ExcelNotInstalled() from None
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(pgettext("export sheet", "Calls"))
    sheet.append(headers())
    names = [name for _, name in COLUMNS]
    for row in rows(target):
        cells = []
        for name in names:
            value = row[name]
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            cells.append(cell)
        sheet.append(cells)
    out = file if file is not None else tempfile.TemporaryFile()  # noqa: SIM115 - returned
    workbook.save(out)
    out.seek(0)
    return out


def export_filename(target: Campaign | QuerySet[VoiceCall], extension: str) -> str:
    """A file name for an export: the campaign's name (ASCII-safe) and today's date."""
    base = slugify(target.name) if isinstance(target, Campaign) else ""
    stamp = timezone.localdate().isoformat()
    return f"{base or 'calls'}-{stamp}.{extension}"
