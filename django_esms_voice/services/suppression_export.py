"""The suppression list as CSV, row by row, never all in memory (as call exports stream)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import pgettext

from ..models import Suppression, SuppressionReason
from .exporting import BOM, CSV_ROWS_PER_PIECE, EXPORT_CHUNK_SIZE, FORMULA_STARTS


def _text(value: object) -> str:
    """A value as CSV text; text a spreadsheet would run as a formula gets a leading '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def headers() -> list[str]:
    """The column headers, in the active language."""
    return [
        pgettext("export column", "Phone number"),
        pgettext("export column", "Reason"),
        pgettext("export column", "Source"),
        pgettext("export column", "Added by"),
        pgettext("export column", "Added"),
    ]


def stream_suppressions_csv(entries: QuerySet[Suppression] | None = None) -> Iterator[str]:
    """Yield the list as CSV (UTF-8 with a BOM), oldest first, in pieces; lazy.

    The number is written as the text it is stored as (0901888484, leading 0 kept); an import
    of the file reads it back whatever a spreadsheet did to it.
    """
    queryset = Suppression.objects.all() if entries is None else entries
    username = get_user_model().USERNAME_FIELD
    values = queryset.order_by("created_at", "pk").values_list(
        "phone", "reason", "source", f"added_by__{username}", "created_at"
    )
    labels = dict(SuppressionReason.choices)
    tz = timezone.get_current_timezone()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers())
    yield BOM + _take(buffer)
    for count, (phone, reason, source, user, created) in enumerate(
        values.iterator(chunk_size=EXPORT_CHUNK_SIZE), start=1
    ):
        writer.writerow(
            [
                phone,
                str(labels.get(reason, reason)),
                _text(source),
                _text(user),
                timezone.localtime(created, tz).strftime("%Y-%m-%d %H:%M:%S"),
            ]
        )
        if count % CSV_ROWS_PER_PIECE == 0:
            yield _take(buffer)
    rest = _take(buffer)
    if rest:
        yield rest


def export_filename() -> str:
    """A file name for an export of the list: today's date."""
    return f"suppression-list-{timezone.localdate().isoformat()}.csv"
