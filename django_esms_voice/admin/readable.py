"""Figures as a reader of the admin's language reads them: counts, shares, durations, pace.

Counts are grouped by thousands in both languages (``1.234`` in Vietnamese, ``1,234`` in
English): Django's Vietnamese formats set no NUMBER_GROUPING, so number_format() would not.
Money is money.format_dong().
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils.formats import get_format
from django.utils.translation import gettext, ngettext

from ..money import format_dong
from ..services.reporting import PACE_WINDOW


def count(value: int) -> str:
    """A whole number grouped by thousands: 1.234.567 (vi), 1,234,567 (en)."""
    separator = str(get_format("THOUSAND_SEPARATOR", use_l10n=True))
    digits = str(abs(int(value)))
    groups = [digits[max(i - 3, 0) : i] for i in range(len(digits), 0, -3)][::-1]
    return ("-" if value < 0 else "") + separator.join(groups)


def decimal(value: float, places: int = 1) -> str:
    """A number with `places` decimals in the language's notation: 12,5 (vi), 12.5 (en)."""
    whole, _, fraction = f"{value:.{places}f}".partition(".")
    text = count(int(whole)) if whole.lstrip("-") else whole
    if whole.startswith("-") and not text.startswith("-"):
        text = "-" + text  # -0.5
    return f"{text}{get_format('DECIMAL_SEPARATOR', use_l10n=True)}{fraction}" if places else text


def rate(value: float | None) -> str:
    """A ratio (0 to 1) as a percentage with one decimal, or a dash when it is unknown."""
    return "—" if value is None else f"{decimal(100 * value)}%"


def share(part: int, whole: int) -> str:
    """What part of whole is, as a percentage with one decimal (a dash when whole is 0)."""
    return rate(part / whole if whole else None)


def duration(seconds: float | None) -> str:
    """A duration: "42 s", "3 min 5 s", "2 h 14 min"; a dash when unknown."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(h)s h %(m)d min") % {"h": count(hours), "m": minutes}
    if minutes:
        return gettext("%(m)d min %(s)d s") % {"m": minutes, "s": secs}
    return gettext("%(s)d s") % {"s": secs}


def pace(per_minute: float) -> str:
    """Calls per minute: "12,5 calls a minute"."""
    return gettext("%(pace)s calls a minute") % {"pace": decimal(per_minute)}


def eta(remaining: dt.timedelta | None, open_calls: int) -> str:
    """How long the open calls will take at the current pace, in words."""
    if not open_calls:
        return gettext("Every call has finished.")
    if remaining is None:
        window = round(PACE_WINDOW.total_seconds() / 60)
        return gettext("Unknown: no call finished in the last %(n)d minutes.") % {"n": window}
    minutes = max(round(remaining.total_seconds() / 60), 1)
    if minutes < 120:
        return ngettext("About %(n)d minute", "About %(n)d minutes", minutes) % {"n": minutes}
    hours = round(minutes / 60)
    return ngettext("About %(n)d hour", "About %(n)d hours", hours) % {"n": hours}


def money(amount: Decimal | None) -> str:
    """An amount in đồng (money.format_dong), a dash when unknown."""
    return format_dong(amount) if amount is not None else "—"
