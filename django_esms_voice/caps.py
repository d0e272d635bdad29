"""Frequency caps: at most so many calls of a purpose to one number in a period.

Decree 91/2020/ND-CP allows one advertising call per recipient per 24 hours from one
advertiser unless agreed; ESMS_VOICE['FREQUENCY_CAPS'] holds one cap per purpose, a
campaign may set its own number (0: none, the recipients agreed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The period of a campaign's own cap when its purpose has none.
DEFAULT_PERIOD = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Cap:
    """At most `calls` calls to one number in any `period`."""

    calls: int
    period: dt.timedelta = DEFAULT_PERIOD

    def hours(self) -> str:
        """The period as people say it: 24 h."""
        return f"{self.period.total_seconds() / 3600:g} h"
