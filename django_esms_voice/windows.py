"""Calling windows: the hours, weekdays and dates a purpose's calls may be placed in.

Decree 91/2020/ND-CP allows advertising calls only between 08:00 and 17:00, Vietnam time;
ESMS_VOICE['CALLING_WINDOWS'] holds one window per purpose (none: any time). Pure logic:
conf/reading.py builds the windows from the setting, policies.py asks them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

#: ISO weekdays: 1 is Monday, 7 is Sunday.
EVERY_DAY: frozenset[int] = frozenset(range(1, 8))
#: How far ahead next_open() looks for an open day before saying the window never opens.
LOOKAHEAD_DAYS = 400


@dataclass(frozen=True)
class Window:
    """When calls may be placed: from `start` to `end` (local time) on open days."""

    start: dt.time
    end: dt.time
    weekdays: frozenset[int] = EVERY_DAY
    closed_dates: frozenset[dt.date] = frozenset()
    time_zone: str = "Asia/Ho_Chi_Minh"

    def _local(self, moment: dt.datetime) -> dt.datetime:
        """The moment in the window's time zone."""
        return moment.astimezone(ZoneInfo(self.time_zone))

    def _open_day(self, day: dt.date) -> bool:
        """Whether calls may be placed at all on this local date."""
        return day.isoweekday() in self.weekdays and day not in self.closed_dates

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether a call may be placed at this (aware) moment."""
        local = self._local(moment)
        return self._open_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, moment: dt.datetime) -> dt.datetime | None:
        """The first moment at or after `moment` the window is open; None if it never opens."""
        local = self._local(moment)
        zone = ZoneInfo(self.time_zone)
        for offset in range(LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            if not self._open_day(day):
                continue
            opens = dt.datetime.combine(day, self.start, zone)
            closes = dt.datetime.combine(day, self.end, zone)
            if local < closes:
                return max(local, opens)
        return None

    def hours(self) -> str:
        """The window's hours as people write them: 08:00-17:00 (with an en dash)."""
        return f"{self.start:%H:%M}\u2013{self.end:%H:%M}"
