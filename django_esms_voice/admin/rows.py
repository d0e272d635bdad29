"""Numbers to call, read from pasted text or a CSV file, and checked the way eSMS will.

Rows are checked here without saving anything (VoiceCall.validate_for_esms, the check eSMS
applies); the admin creates the calls through services once the operator has confirmed.
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

from ..esms.phone import repeats
from ..exceptions import EsmsInputError
from ..models import VoiceCall

#: At most this many rows per "call many numbers" run, and objects per host-model action.
MAX_ROWS = 5000
#: The options every call of a batch shares, as VoiceCall field names.
OPTION_FIELDS = ("kind", "template_id", "voice", "speed", "ivr_key", "number_forward", "send_at")


def split_variables(text: str) -> list[str]:
    """Read script variables typed one per line, or on one line separated by commas."""
    text = text.strip()
    if not text:
        return []
    lines = text.splitlines()
    if len(lines) == 1:
        return [value.strip() for value in lines[0].split(",")]
    return [line.strip() for line in lines]


def check_call(
    options: Mapping[str, Any], phone: str, variables: Sequence[object]
) -> EsmsInputError | None:
    """Check one call the way eSMS will; None when it is valid."""
    call = _build(options, phone, variables)
    try:
        call.validate_for_esms()
    except EsmsInputError as exc:
        return exc
    return None


def call_fields(
    options: Mapping[str, Any], phone: str, variables: Sequence[object]
) -> dict[str, Any]:
    """Return the validated, normalised fields of one call, for services.create_calls()."""
    call = _build(options, phone, variables)
    call.validate_for_esms()
    fields = {name: getattr(call, name) for name in OPTION_FIELDS}
    fields.update(phone=call.phone, variables=list(call.variables))
    return fields


def _build(options: Mapping[str, Any], phone: str, variables: Sequence[object]) -> VoiceCall:
    """Return an unsaved call with these options, number and variables."""
    values = {name: options.get(name) for name in OPTION_FIELDS}
    for name in ("voice", "number_forward"):
        values[name] = values[name] or ""
    # A recording call takes no variables: passing them lets validate_for_esms say so.
    return VoiceCall(phone=phone, variables=list(variables), **values)


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
    """Validate every row with these options; a number seen on an earlier row is refused."""
    checked = list(rows)
    for row in checked:
        try:
            row.fields = call_fields(options, row.phone, row.variables)
        except EsmsInputError as exc:
            row.error = str(exc.message)
    phones = [row.fields["phone"] if row.valid else None for row in checked]
    for index, earlier in repeats(phones).items():
        line = checked[earlier].line
        checked[index].error = gettext("The same number as line %(line)d.") % {"line": line}
        checked[index].fields = {}
    return checked
