"""Before money is spent: the eSMS balance (cached briefly) and what a number of calls may cost.

The estimate comes from the account's own recent calls: the average Price eSMS reported per
answered and per unanswered call, weighted by how often recent calls were answered.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from ..backends import get_backend
from ..conf import voice_settings
from ..esms.protocol import describe_code
from ..esms.redaction import redact
from ..exceptions import (
    EsmsApiError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsSettingsError,
    EsmsTransportError,
)
from ..models import VoiceCall
from ..states import CallStatus

logger = logging.getLogger(__name__)

#: Where the last balance reading is kept (Django's default cache).
BALANCE_CACHE_KEY = "django_esms_voice:balance"
#: The estimate reads at most this many of the latest priced results.
RECENT_CALLS = 1000
#: The results an estimate reads, and whether each means the call was answered.
PRICED_RESULTS = {
    CallStatus.ANSWERED: True,
    CallStatus.NO_ANSWER: False,
    CallStatus.FAILED: False,
}
_DONG = Decimal(1)


@dataclass(frozen=True)
class BalanceReading:
    """The eSMS balance in đồng, or None with a note saying why it could not be read."""

    balance: Decimal | None
    read_at: dt.datetime | None = None
    note: str = ""

    @property
    def known(self) -> bool:
        return self.balance is not None


@dataclass(frozen=True)
class Estimate:
    """What `count` calls may cost, in whole đồng, from the account's recent priced calls."""

    count: int
    expected: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    answer_rate: Decimal | None = None
    per_answered: Decimal | None = None
    per_unanswered: Decimal | None = None
    sample: int = 0
    note: str = ""

    @property
    def known(self) -> bool:
        return self.expected is not None


def _failure(exc: Exception) -> str:
    """Name what went wrong, in a form a cache keeps and a note is made from in any language."""
    if isinstance(exc, EsmsApiError):
        return f"api:{exc.code}"
    if isinstance(exc, EsmsHTTPError):
        return f"http:{exc.status_code}"
    if isinstance(exc, EsmsInvalidResponse):
        return "invalid"
    if isinstance(exc, EsmsTransportError):
        return "silent"
    return "settings"


def _note(failure: str) -> str:
    """The translated sentence an operator reads for a failure named by _failure()."""
    kind, _, detail = failure.partition(":")
    if kind == "api":
        meaning = str(describe_code(detail).description)
        reason = f"{meaning[:1].lower()}{meaning[1:]} ({detail})"
    elif kind == "http":
        reason = gettext("eSMS answered with HTTP error %(status)s") % {"status": detail}
    elif kind == "invalid":
        reason = gettext("eSMS's answer could not be understood")
    elif kind == "silent":
        reason = gettext("eSMS did not answer")
    else:
        reason = gettext(
            "the ESMS_VOICE setting is incomplete or wrong (manage.py check says what to fix)"
        )
    return gettext("The eSMS balance could not be read: %(reason)s.") % {"reason": reason}


def _reading(stored: dict[str, Any]) -> BalanceReading:
    read_at = dt.datetime.fromisoformat(stored["read_at"])
    if stored.get("failure"):
        return BalanceReading(None, read_at, _note(stored["failure"]))
    return BalanceReading(Decimal(stored["balance"]), read_at)


def current_balance() -> BalanceReading:
    """Return the eSMS balance (kept BALANCE_CACHE_SECONDS), or a note why not; never raises."""
    try:
        seconds = voice_settings().balance_cache_seconds
    except EsmsSettingsError:
        return BalanceReading(None, timezone.now(), _note("settings"))
    if seconds > 0:
        try:
            stored = cache.get(BALANCE_CACHE_KEY)
        except Exception:  # a cache that is down must not stop a confirmation page
            logger.warning("The cache could not be read for the eSMS balance.", exc_info=True)
            stored = None
        if isinstance(stored, dict):
            return _reading(stored)
    now = timezone.now()
    stored = {"read_at": now.isoformat(), "balance": None, "failure": ""}
    try:
        stored["balance"] = str(get_backend().get_balance().balance)
    except (EsmsApiError, EsmsTransportError, EsmsSettingsError) as exc:
        # A failure is kept as long as a balance: a page reload does not wait for eSMS again.
        stored["failure"] = _failure(exc)
        logger.warning("The eSMS balance could not be read: %s", redact(str(exc)))
    if seconds > 0:
        try:
            cache.set(BALANCE_CACHE_KEY, stored, timeout=seconds)
        except Exception:  # as above: the reading is still shown
            logger.warning("The cache could not keep the eSMS balance.", exc_info=True)
    return _reading(stored)


def forget_balance() -> None:
    """Drop the cached balance, so that the next confirmation page reads it from eSMS."""
    try:
        cache.delete(BALANCE_CACHE_KEY)
    except Exception:  # as in current_balance(): a cache that is down holds nothing to drop
        logger.warning("The cache could not drop the eSMS balance.", exc_info=True)


def _recent_results_sql(kind: str | None) -> tuple[str, list[Any]]:
    """One statement: count and total Price per result over the latest RECENT_CALLS results.

    Each result's latest calls come from the (status, -created_at) index, LIMIT each; the
    union holds the latest RECENT_CALLS overall, whatever their mix. Portable SQL; only
    quoted names are formatted into it.
    """
    qn = connection.ops.quote_name
    table, status, price = qn(VoiceCall._meta.db_table), qn("status"), qn("price")
    created, kind_column = qn("created_at"), qn("kind")
    own_kind = f" AND {kind_column} = %s" if kind else ""
    parts, params = [], []
    for number, result in enumerate(PRICED_RESULTS):
        parts.append(
            f"SELECT * FROM (SELECT {status}, {price}, {created} FROM {table} "  # noqa: S608
            f"WHERE {status} = %s AND {price} IS NOT NULL{own_kind} "
            f"ORDER BY {created} DESC LIMIT %s) AS latest_{number}"
        )
        params += [str(result), *([str(kind)] if kind else []), RECENT_CALLS]
    union = " UNION ALL ".join(parts)
    sql = (
        f"SELECT {status}, COUNT(*), SUM({price}) FROM (SELECT {status}, {price} FROM "  # noqa: S608
        f"({union}) AS results ORDER BY {created} DESC LIMIT %s) AS recent GROUP BY {status}"
    )
    return sql, [*params, RECENT_CALLS]


def _whole(amount: Decimal) -> Decimal:
    return amount.quantize(_DONG, rounding=ROUND_HALF_UP)


def estimate_cost(count: int, *, kind: str | None = None) -> Estimate:
    """Estimate what `count` calls (of `kind`, or any) cost, from the latest priced results.

    One query. ``expected`` weighs the average Price of an answered and of an unanswered call
    by the recent answer rate; ``low`` and ``high`` are every call unanswered or answered.
    """
    sql, params = _recent_results_sql(kind)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    calls = {True: 0, False: 0}
    totals = {True: Decimal(0), False: Decimal(0)}
    for status, number, total in rows:
        answered = PRICED_RESULTS[CallStatus(status)]
        calls[answered] += int(number)
        totals[answered] += Decimal(str(total or 0))  # SQLite sums to a float
    sample = calls[True] + calls[False]
    if not sample:
        return Estimate(count, note=gettext("No priced call yet: no estimate."))
    rate = Decimal(calls[True]) / sample
    averages = {key: totals[key] / calls[key] if calls[key] else None for key in calls}
    known = [value for value in averages.values() if value is not None]
    per_call = sum(
        (
            (rate if answered else 1 - rate) * value
            for answered, value in averages.items()
            if value is not None
        ),
        Decimal(0),
    )
    return Estimate(
        count=count,
        expected=_whole(per_call * count),
        low=_whole(min(known) * count),
        high=_whole(max(known) * count),
        answer_rate=rate,
        per_answered=averages[True],
        per_unanswered=averages[False],
        sample=sample,
    )
