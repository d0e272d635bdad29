"""The list pages stay fast on a large table: an estimated count, a date hierarchy from MIN/MAX.

No full COUNT(*) on every load (an estimate on an unfiltered PostgreSQL table, no second
count, no facets) and a date hierarchy drawn from MIN/MAX instead of a DISTINCT over every row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.functional import cached_property

from ..models import CallbackEvent, VoiceCallQuerySet

# Generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _Paginator = Paginator[Any]
else:
    _Paginator = Paginator

#: Above this many rows (the planner's estimate), an unfiltered list is not counted exactly.
ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(_Paginator):
    """Count an unfiltered PostgreSQL table from the planner's estimate instead of COUNT(*).

    A big table's pg_class.reltuples (kept fresh by autovacuum) is close enough for the page
    links; a small table, a filtered list or another database is counted exactly.
    """

    @cached_property
    def count(self) -> int:
        """Return the number of rows, estimated for a big unfiltered PostgreSQL table."""
        queryset = self.object_list
        if isinstance(queryset, models.QuerySet) and not queryset.query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                table = connection.ops.quote_name(queryset.model._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table]
                    )
                    row = cursor.fetchone()
                if row and row[0] >= ESTIMATE_ABOVE:
                    return int(row[0])
        return super().count


class PeriodsFromBoundsMixin:
    """Draw the date hierarchy's years, months and days from MIN and MAX of the column.

    Django's date hierarchy asks for DISTINCT truncated dates, which reads every row of the
    list; MIN and MAX read two index entries. The price: a period without calls is offered too.
    """

    def datetimes(
        self,
        field_name: str,
        kind: str,
        order: str = "ASC",
        tzinfo: dt.tzinfo | None = None,
    ) -> Any:
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)  # type: ignore[misc]
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))  # type: ignore[attr-defined]
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (bounds[name].astimezone(zone) for name in ("first", "last"))
        periods = list(_periods(first, last, kind, zone))
        return periods[::-1] if order == "DESC" else periods


def _periods(
    first: dt.datetime, last: dt.datetime, kind: str, zone: dt.tzinfo
) -> Iterator[dt.datetime]:
    """Yield the start of every year, month or day from first to last."""
    if kind == "year":
        for year in range(first.year, last.year + 1):
            yield dt.datetime(year, 1, 1, tzinfo=zone)
    elif kind == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            yield dt.datetime(year, month, 1, tzinfo=zone)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        day = first.date()
        while day <= last.date():
            yield dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            day += dt.timedelta(days=1)


class AdminCallQuerySet(PeriodsFromBoundsMixin, VoiceCallQuerySet):
    """The call list's queryset."""


class AdminEventQuerySet(PeriodsFromBoundsMixin, models.QuerySet[CallbackEvent]):
    """The event list's queryset."""
