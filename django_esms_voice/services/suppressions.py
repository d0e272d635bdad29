"""The suppression list from code: add, remove, ask, and import many numbers at once.

Every number is normalised the way call numbers are (esms.phone.normalize_phone), so
``+84 90 188 8484`` and ``0901888484`` are one entry. Adding a number already listed changes
nothing and returns the entry as it is: the first reason, source and author are kept (the
record of why the number was listed); to change the reason, remove the number and add it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from ..esms.phone import normalize_phone
from ..exceptions import InvalidPhoneNumber
from ..models import Suppression, SuppressionReason
from ..policies import suppressions

#: A row of an import: the number's text, or (its 1-based line in the file, the text).
ImportRow = str | tuple[int, str]


def suppress(
    phone: str,
    *,
    reason: str = SuppressionReason.OPTED_OUT,
    source: str = "",
    added_by: Any = None,
) -> Suppression:
    """Put a number on the list; a number listed already is returned unchanged.

    Raises InvalidPhoneNumber for a number that is not Vietnamese.
    """
    number = normalize_phone(phone)
    SuppressionReason(reason)  # ValueError for an unknown reason, before any query
    existing = Suppression.objects.filter(phone=number).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Suppression.objects.create(
                phone=number, reason=reason, source=source[:200], added_by=added_by
            )
    except IntegrityError:  # added by someone else in the meantime
        return Suppression.objects.get(phone=number)


def unsuppress(phone: str) -> bool:
    """Take a number off the list; False when it was not on it (or is not a valid number)."""
    try:
        number = normalize_phone(phone)
    except InvalidPhoneNumber:
        return False
    deleted, _ = Suppression.objects.filter(phone=number).delete()
    return bool(deleted)


def is_suppressed(phone: str) -> bool:
    """Whether a number (in any spelling) is on the list; an invalid number is not."""
    try:
        number = normalize_phone(phone)
    except InvalidPhoneNumber:
        return False
    return Suppression.objects.filter(phone=number).exists()


@dataclass(frozen=True)
class RowProblem:
    """A row of an import that cannot be listed: its line, its text, and why."""

    line: int
    text: str
    error: str


@dataclass
class ImportReport:
    """What an import found (check_suppressions) or did (import_suppressions)."""

    #: The valid numbers not listed yet, normalised, with their lines: what is (or was) added.
    new: list[tuple[int, str]] = field(default_factory=list)
    #: The valid numbers on the list already, with their lines: left as they are.
    already_listed: list[tuple[int, str]] = field(default_factory=list)
    #: The rows refused: not a Vietnamese number, empty, or a number seen on an earlier line.
    problems: list[RowProblem] = field(default_factory=list)
    #: How many rows were added (0 until import_suppressions has run).
    created: int = 0

    @property
    def valid(self) -> int:
        """How many rows hold a number that is (or will be) on the list."""
        return len(self.new) + len(self.already_listed)


def _numbered(rows: Iterable[ImportRow]) -> Iterable[tuple[int, str]]:
    for index, row in enumerate(rows, start=1):
        yield row if isinstance(row, tuple) else (index, row)


def check_suppressions(rows: Iterable[ImportRow]) -> ImportReport:
    """Check every row of an import without saving: bad numbers, repeats, numbers listed already.

    One query on PostgreSQL whatever the number of rows (policies.suppressions).
    """
    report = ImportReport()
    first_line: dict[str, int] = {}
    valid: list[tuple[int, str]] = []
    for line, text in _numbered(rows):
        try:
            number = normalize_phone(text)
        except InvalidPhoneNumber as exc:
            report.problems.append(RowProblem(line, str(text)[:200], str(exc.message)))
            continue
        if number in first_line:
            error = gettext("The same number as line %(line)d.") % {"line": first_line[number]}
            report.problems.append(RowProblem(line, str(text)[:200], error))
            continue
        first_line[number] = line
        valid.append((line, number))
    listed = suppressions(number for _line, number in valid)
    for line, number in valid:
        (report.already_listed if number in listed else report.new).append((line, number))
    return report


def import_suppressions(
    rows: Iterable[ImportRow],
    *,
    reason: str = SuppressionReason.OPTED_OUT,
    source: str = "",
    added_by: Any = None,
) -> ImportReport:
    """Check every row and add the valid new numbers in bulk; numbers listed already are kept.

    A fixed number of queries: the lookup (one on PostgreSQL) and one INSERT ... ON CONFLICT DO
    NOTHING on the unique phone, so a number added meanwhile by someone else is skipped.
    """
    SuppressionReason(reason)
    report = check_suppressions(rows)
    if report.new:
        entries = [
            Suppression(phone=number, reason=reason, source=source[:200], added_by=added_by)
            for _line, number in report.new
        ]
        Suppression.objects.bulk_create(entries, ignore_conflicts=True)
        report.created = len(entries)
    return report
