"""How a moment reads on every page: in the active time zone, to the second, one format."""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone

#: The one format of a moment (a call's times, its timeline, its events' titles).
MOMENT_FORMAT = "Y-m-d H:i:s"


def local_time(value: dt.datetime) -> str:
    """Show a moment in the current time zone, to the second."""
    return formats.date_format(timezone.localtime(value), MOMENT_FORMAT)
