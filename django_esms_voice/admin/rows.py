"""Numbers to call, read from pasted text or a CSV file, and checked the way eSMS will.

Rows are checked by services.check_calls() without saving anything; the admin creates the
calls through services once the operator has confirmed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services

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


def _row(line: int, text: str, cells: Sequence[str]) -> Row:
    """Return a row from its cells: the phone first, then the variables (trailing empties cut)."""
    values = [cell.strip() for cell in cells]
    while len(values) > 1 and not values[-1]:
        values.pop()
    return Row(line=line, text=text[:200], phone=values[0], variables=values[1:])


def check_rows(rows: Iterable[Row], options: Mapping[str, Any]) -> list[Row]:
    """Check every row with these options (services.check_calls); a repeated number is refused."""
    checked = list(rows)
    given = [{**options, "phone": row.phone, "variables": row.variables} for row in checked]
    for row, values, result in zip(checked, given, services.check_calls(given), strict=True):
        if isinstance(result.error, services.RepeatedPhone):
            line = checked[result.error.earlier].line
            row.error = gettext("The same number as line %(line)d.") % {"line": line}
        elif result.error is not None:
            row.error = str(result.error.message)
        else:
            row.fields = {name: result.values[name] for name in values}
    return checked
