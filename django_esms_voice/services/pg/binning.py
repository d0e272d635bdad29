"""PostgreSQL 14's date_bin(): group moments into bars of any width, with no time zone work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import DateTimeField, DurationField, Func, Value


class DateBin(Func):
    """The start of the `stride`-wide bar holding a moment, bars counted from `origin`.

    Cheaper than DATE_TRUNC(unit, moment AT TIME ZONE ...): no conversion per row, and the
    bars come out at their final width. `origin` is a local midnight, so the bars are local.
    """

    function = "DATE_BIN"
    output_field = DateTimeField()

    def __init__(self, stride: dt.timedelta, expression: Any, origin: dt.datetime) -> None:
        super().__init__(
            Value(stride, output_field=DurationField()),
            expression,
            Value(origin, output_field=DateTimeField()),
        )
