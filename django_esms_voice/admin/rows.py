"""Numbers to call, read from pasted text, a CSV or an Excel file, and checked the way eSMS will.

Rows are checked by services.check_calls() without saving anything; the admin creates the
calls through services once the operator has confirmed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..esms.phone import restore_leading_zero
from ..options import CallKind

#: At most this many rows per "call many numbers" run, and objects per host-model action.
MAX_ROWS = 5000


def split_variables(text: str) -> list[str]:
    """Read script variables typed one per line, or on one line separated by commas."""
    text = text.strip()
    if not text:
        return []
    lines = text.splitlines()
    if len(lines) == 1:
        return [value.strip() for value in lines[0].split(",")]
    return [line.strip() for line in lines]


@dataclass
class Row:
    """One number to call, where it came from, and what is wrong with it (if anything)."""

    line: int
    text: str
    phone: str
    variables: list[str]
    error: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    #: What was changed on the way in (a leading 0 restored), shown on the preview.
    note: str = ""

    @property
    def valid(self) -> bool:
        return not self.error


def parse_pasted(text: str) -> list[Row]:
    """Read pasted lines: `phone` or `phone, var1, var2` (tab-separated when pasted from a sheet).

    Empty lines and lines starting with # are left out; line numbers count every line.
    """
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = stripped.split("\t") if "\t" in stripped else stripped.split(",")
        rows.append(_row(number, stripped, cells))
    return rows


def parse_csv(data: bytes) -> list[Row]:
    """Read a CSV file: the phone in the first column, the script variables in the next ones.

    UTF-8 (with or without a BOM, as Excel writes it), separated by commas, semicolons or tabs;
    a first row without any digit in its first cell is a header and is left out.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            _("The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again."),
            code="encoding",
        ) from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows: list[Row] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if not rows and not any(ch.isdigit() for ch in cells[0]):
                continue  # the header
            rows.append(_row(reader.line_num, ", ".join(cells), cells))
    except csv.Error as exc:
        raise ValidationError(
            _("The file cannot be read as CSV (line %(line)d): %(error)s"),
            code="csv",
            params={"line": reader.line_num, "error": exc},
        ) from None
    return rows


#: The columns read from a worksheet: the phone, then at most this many script variables.
XLSX_MAX_COLUMNS = 50
#: How a ZIP file starts (an .xlsx is one), and an old binary .xls.
_ZIP_MAGIC, _XLS_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"


def parse_upload(name: str, data: bytes) -> list[Row]:
    """Read an uploaded file as an Excel workbook (.xlsx) or as CSV, from its name or content."""
    if data.startswith(_XLS_MAGIC) or name.lower().endswith(".xls"):
        raise ValidationError(
            _("This is an old Excel file (.xls): save it as .xlsx or as “CSV UTF-8”."),
            code="xls",
        )
    if data.startswith(_ZIP_MAGIC) or name.lower().endswith(".xlsx"):
        return parse_xlsx(data)
    return parse_csv(data)


def _cell_text(value: Any) -> str:
    """A worksheet value as the text a script reads: 150000, not 150000.0; dates as 02/01/2025."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()  # as Excel shows it
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return f"{value:%d/%m/%Y}" if value.time() == dt.time() else f"{value:%d/%m/%Y %H:%M}"
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    return str(value)


def parse_xlsx(data: bytes) -> list[Row]:
    """Read the first worksheet of an .xlsx file: the phone in column A, the variables after it.

    A formula gives the value Excel last computed; empty rows are left out and a first row
    without any digit in its first cell is a header. A phone Excel kept as a number
    (901888484) gets its leading 0 back, with a note on the row.
    """
    try:
        import openpyxl
    except ImportError:
        raise ValidationError(
            _(
                "Reading Excel files needs openpyxl: ask an administrator to install "
                "%(command)s, or upload a CSV file."
            ),
            code="no_openpyxl",
            params={"command": 'pip install "django-esms-voice[excel]"'},
        ) from None
    rows: list[Row] = []
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers record a wrong size: read what is there
            cells = sheet.iter_rows(max_col=XLSX_MAX_COLUMNS + 1, values_only=True)
            for line, values in enumerate(cells, start=1):
                row = _sheet_row(line, values, header_possible=not rows)
                if row is not None:
                    rows.append(row)
                if len(rows) > MAX_ROWS:  # the form refuses it; no need to read further
                    break
        finally:
            workbook.close()
    except ValidationError:
        raise
    except Exception:  # openpyxl raises many kinds (zip, XML, KeyError) for a damaged file
        raise ValidationError(
            _(
                "The file cannot be read as an Excel workbook (.xlsx): open it in Excel, save it "
                "again and upload it, or save it as “CSV UTF-8”."
            ),
            code="xlsx",
        ) from None
    return rows


def _sheet_row(line: int, values: Sequence[Any], *, header_possible: bool) -> Row | None:
    """One worksheet row as a Row; None for an empty row or the header."""
    texts = [_cell_text(value).strip() for value in values]
    if not any(texts):
        return None
    if header_possible and not any(ch.isdigit() for ch in texts[0]):
        return None
    first = values[0]
    restored = None
    if isinstance(first, int | float) and not isinstance(first, bool):
        restored = restore_leading_zero(texts[0])
    if restored is not None:
        texts[0] = restored
    row = _row(line, ", ".join(t for t in texts if t), texts)
    if restored is not None:
        row.note = gettext("the leading 0 was restored")
    return row


def _row(line: int, text: str, cells: Sequence[str]) -> Row:
    """Return a row from its cells: the phone first, then the variables (trailing empties cut)."""
    values = [cell.strip() for cell in cells]
    while len(values) > 1 and not values[-1]:
        values.pop()
    return Row(line=line, text=text[:200], phone=values[0], variables=values[1:])


def check_rows(rows: Iterable[Row], options: Mapping[str, Any]) -> list[Row]:
    """Check every row with these options (services.check_calls); a repeated number is refused.

    options["frequency_cap"], if any, is the new campaign's calls per number. A recording
    call reads no variables: a row's next columns (a name, as in the form's example) are not
    sent, and the row's note says so.
    """
    checked = list(rows)
    if options.get("kind", CallKind.RECORD) != CallKind.TEMPLATE:
        for row in checked:
            _unused_columns(row)
    shared = {name: value for name, value in options.items() if name != "frequency_cap"}
    given = [{**shared, "phone": row.phone, "variables": row.variables} for row in checked]
    results = services.check_calls(given, frequency_cap=options.get("frequency_cap"))
    for row, values, result in zip(checked, given, results, strict=True):
        if isinstance(result.error, services.RepeatedPhone):
            line = checked[result.error.earlier].line
            row.error = gettext("The same number as line %(line)d.") % {"line": line}
        elif result.error is not None:
            row.error = str(result.error.message)
        else:
            row.fields = {name: result.values[name] for name in values}
    return checked


def _unused_columns(row: Row) -> None:
    """Take a recording call's row's variables out, and say on its note they are not read."""
    unused = ", ".join(value for value in row.variables if value)
    row.variables = []
    if unused:
        note = gettext("the recording is the same for everyone, “%(values)s” is not read out")
        row.note = "; ".join(filter(None, [row.note, note % {"values": unused[:60]}]))
