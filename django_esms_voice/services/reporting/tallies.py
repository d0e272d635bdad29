"""The figures of a set of calls: counts, rates, durations, cost, pace, errors by cause.

One query grouped by status and error code, at 10 calls as at a million (two queries, the
error codes apart, measured no faster at a million); a campaign's reads indexes only
(campaign_figures). Tally adds the grouped rows up, for one set of calls or for the many
of the overview and of a list of campaigns (figures_by_campaign).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Count, Max, Min, Q, QuerySet, Subquery, Sum, Value
from django.utils import timezone
from django.utils.functional import Promise

from ...errors import explain
from ...exceptions import FrequencyCapped, SuppressedNumber
from ...models import Campaign, VoiceCall
from ...states import BILLABLE, FINAL, CallStatus
from ..pg.costs import BilledCost

#: Calls not finished yet: waiting, being sent, or placed and waiting for their result.
OPEN = frozenset(
    {CallStatus.PENDING, CallStatus.SUBMITTING, CallStatus.ACCEPTED, CallStatus.IN_PROGRESS}
)
#: Calls grouped by cause: refused by eSMS, given up by the app, or charged with no result.
ERROR_STATUSES = (CallStatus.REJECTED, CallStatus.ERROR, CallStatus.UNKNOWN)
#: The codes a call canceled by a policy keeps (policies.py): counted with the errors by cause.
POLICY_CODES = frozenset({SuppressedNumber.code, FrequencyCapped.code})
#: The pace is the calls that reached a final status in this window (canceled ones left out).
PACE_WINDOW = dt.timedelta(minutes=10)
PACED = FINAL - {CallStatus.CANCELED}


@dataclass(frozen=True)
class ErrorGroup:
    """Calls that ended on one error code: how many, what it means, what to do."""

    code: str
    count: int
    meaning: str | Promise
    advice: str | Promise

    def __iter__(self) -> Iterator[Any]:
        """Unpack as (code, count, meaning, advice)."""
        return iter((self.code, self.count, self.meaning, self.advice))


@dataclass(frozen=True)
class Figures:
    """What a set of calls did: counts, rates, durations (s), cost (đồng), pace and errors."""

    total: int
    by_status: Mapping[str, int]
    answered: int
    no_answer: int
    failed: int
    refused: int  # rejected by eSMS
    unknown: int  # charged, result unknown
    errors: int  # status "error": the app gave up
    canceled: int
    open: int
    finished: int
    answer_rate: float | None  # answered ÷ (answered + no answer + failed)
    key_press_rate: float | None  # answered calls with a key pressed ÷ answered
    average_duration: float | None  # of the answered calls that report one
    total_duration: int
    total_cost: Decimal  # the Price eSMS reported for the calls it bills (states.BILLABLE)
    billed: int
    unpriced: int  # billed calls without a Price yet
    per_minute: float  # calls that reached a final status in the last PACE_WINDOW, per minute
    eta: dt.timedelta | None  # to finish the open calls at that pace; None when unknown
    error_groups: list[ErrorGroup]
    first_completed_at: dt.datetime | None
    last_completed_at: dt.datetime | None


def pace(recent: int, still_open: int) -> tuple[float, dt.timedelta | None]:
    """Calls per minute from those ended in PACE_WINDOW, and the time the open ones need."""
    per_minute = recent / (PACE_WINDOW.total_seconds() / 60)
    if not still_open:
        return per_minute, dt.timedelta(0)
    return per_minute, dt.timedelta(minutes=still_open / per_minute) if per_minute else None


def status_sums() -> dict[str, Any]:
    """The sums per status and error code that esms_voice_campaign_status alone can give."""
    return {
        "n": Count("*"),
        "pressed": Count("status", filter=~Q(ivr_pressed="")),  # not "pk": not in the index
        "seconds": Sum("duration"),
        "timed": Count("duration"),
    }


def sums(now: dt.datetime) -> dict[str, Any]:
    """The sums each grouped row carries (per status and error code, and the caller's keys)."""
    return {
        **status_sums(),
        "cost": Sum("price"),
        "unpriced": Count("pk", filter=Q(price__isnull=True)),
        "recent": Count("pk", filter=Q(completed_at__gte=now - PACE_WINDOW)),
        "first": Min("completed_at"),
        "last": Max("completed_at"),
    }


@dataclass
class Tally:
    """Grouped rows added up into the figures of the calls they count."""

    counts: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    pressed: int = 0
    seconds: int = 0
    timed: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    recent: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        """Add a row of grouped_sums(): the sums of one status and error code."""
        status, n = row["status"], row["n"]
        self.counts[status] += n
        policy = status == CallStatus.CANCELED and row["last_error_code"] in POLICY_CODES
        if status in ERROR_STATUSES or policy:
            self.codes[row["last_error_code"]] += n
        if status == CallStatus.ANSWERED:
            self.pressed += row["pressed"]
            self.seconds += int(row["seconds"] or 0)
            self.timed += row["timed"]
        if status in BILLABLE:
            self.cost += Decimal(str(row["cost"] or 0))  # SQLite may sum to a float
            self.unpriced += row["unpriced"]
        if status in PACED:
            self.recent += row["recent"]
        for name, pick in (("first", min), ("last", max)):
            if row[name] is not None:
                mine = getattr(self, name)
                setattr(self, name, row[name] if mine is None else pick(mine, row[name]))

    def figures(self) -> Figures:
        c = self.counts
        by_status = {status: c[status] for status in CallStatus.values}
        answered = c[CallStatus.ANSWERED]
        reached = answered + c[CallStatus.NO_ANSWER] + c[CallStatus.FAILED]
        still_open = sum(c[s] for s in OPEN)
        per_minute, eta = pace(self.recent, still_open)
        groups = [
            ErrorGroup(code, n, info.meaning, info.advice)
            for code, n in sorted(self.codes.items(), key=lambda item: (-item[1], item[0]))
            for info in (explain(code),)
        ]
        return Figures(
            total=sum(c.values()),
            by_status=by_status,
            answered=answered,
            no_answer=c[CallStatus.NO_ANSWER],
            failed=c[CallStatus.FAILED],
            refused=c[CallStatus.REJECTED],
            unknown=c[CallStatus.UNKNOWN],
            errors=c[CallStatus.ERROR],
            canceled=c[CallStatus.CANCELED],
            open=still_open,
            finished=sum(c[s] for s in FINAL),
            answer_rate=answered / reached if reached else None,
            key_press_rate=self.pressed / answered if answered else None,
            average_duration=self.seconds / self.timed if self.timed else None,
            total_duration=self.seconds,
            total_cost=self.cost,
            billed=sum(c[s] for s in BILLABLE),
            unpriced=self.unpriced,
            per_minute=per_minute,
            eta=eta,
            error_groups=groups,
            first_completed_at=self.first,
            last_completed_at=self.last,
        )


def grouped_sums(calls: QuerySet[VoiceCall], now: dt.datetime, *keys: str) -> Iterable[Any]:
    """The calls' sums, one row per status and error code (and `keys`)."""
    rows: Iterable[Any] = (
        calls.order_by().values(*keys, "status", "last_error_code").annotate(**sums(now))
    )
    return rows


def figures(calls: QuerySet[VoiceCall], *, now: dt.datetime | None = None) -> Figures:
    """Return the figures of any set of calls, in one query."""
    tally = Tally()
    for row in grouped_sums(calls, now or timezone.now()):
        tally.add(row)
    return tally.figures()


def campaign_calls(campaign: Campaign) -> QuerySet[VoiceCall]:
    """Return a campaign's calls."""
    return VoiceCall.objects.filter(campaign=campaign)


def campaign_figures(campaign: Campaign, *, now: dt.datetime | None = None) -> Figures:
    """Return the figures of a campaign's calls, in one query.

    The figures of figures(campaign_calls(campaign)), for half of PostgreSQL's CPU at a
    million calls (docs/benchmarks.md): each part reads one index alone, never the call
    rows, whose campaign is their last column. The counts, keys and durations by status and
    error code read esms_voice_campaign_status, deduplicated (its columns take few values:
    7 MB at a million calls), in parallel; the cost, the billed calls without a price, the
    span and the pace are one value each, computed once (billed calls have all ended).
    """
    since = (now or timezone.now()) - PACE_WINDOW
    calls = campaign_calls(campaign).order_by()
    ended = calls.filter(completed_at__isnull=False)
    billed = calls.filter(status__in=sorted(BILLABLE))
    if connections[calls.db].vendor == "postgresql":
        cost: Any = BilledCost(campaign.pk, sorted(BILLABLE))
    else:
        cost = _one(billed, Sum("price"))
    rows = calls.values("status", "last_error_code").annotate(
        **status_sums(),
        # Index probes or index ranges, read once (not per row, nor per group).
        first=Subquery(ended.order_by("completed_at").values("completed_at")[:1]),
        last=Subquery(ended.order_by("-completed_at").values("completed_at")[:1]),
        paced=_one(ended.filter(status__in=PACED, completed_at__gte=since), Count("*")),
        billed_cost=cost,
        billed_unpriced=_one(billed.filter(price__isnull=True), Count("*")),
    )
    tally = Tally()
    once: dict[str, Any] = {}
    for row in rows:
        tally.add({**row, "cost": None, "unpriced": 0, "recent": 0})
        once = dict(row)  # the values computed once are on every row
    tally.recent = once.get("paced") or 0
    tally.unpriced = once.get("billed_unpriced") or 0
    tally.cost = Decimal(str(once.get("billed_cost") or 0))  # SQLite may sum to a float
    return tally.figures()


def figures_by_campaign(
    ids: Iterable[int], *, now: dt.datetime | None = None
) -> dict[int, Figures]:
    """Return the figures of each of these campaigns' calls, in one query (none for no ids).

    For a list of campaigns: grouped by campaign, status and error code with figures()'s
    sums, the same numbers as campaign_figures() campaign by campaign. It reads the call
    rows, not indexes only as campaign_figures() does, which pays off for one campaign
    alone but would take one query per campaign here.
    """
    tallies = {pk: Tally() for pk in ids}
    if not tallies:
        return {}
    calls = VoiceCall.objects.filter(campaign__in=list(tallies))
    for row in grouped_sums(calls, now or timezone.now(), "campaign"):
        tallies[row["campaign"]].add(row)
    return {pk: tally.figures() for pk, tally in tallies.items()}


def _one(calls: QuerySet[VoiceCall], aggregate: Any) -> Subquery:
    """A subquery of one value, `aggregate` over all of `calls`."""
    return Subquery(calls.annotate(one=Value(1)).values("one").annotate(v=aggregate).values("v"))


@dataclass(frozen=True)
class Progress:
    """Where a set of calls is, for a page that refreshes it: counts by status, pace, time left."""

    total: int
    by_status: Mapping[str, int]
    open: int
    finished: int
    per_minute: float
    eta: dt.timedelta | None


def progress(target: Campaign | QuerySet[VoiceCall], *, now: dt.datetime | None = None) -> Progress:
    """Count a campaign's (or any) calls by status and measure the pace, in two queries.

    Cheaper than figures(): a campaign's both read indexes only (its calls by status, and
    those that ended lately), what a live page can afford to ask every few seconds.
    """
    calls = campaign_calls(target) if isinstance(target, Campaign) else target
    since = (now or timezone.now()) - PACE_WINDOW
    counted = dict(calls.order_by().values_list("status").annotate(n=Count("*")))
    recent = calls.filter(status__in=PACED, completed_at__gte=since).order_by().count()
    by_status = {status: counted.get(status, 0) for status in CallStatus.values}
    still_open = sum(by_status[s] for s in OPEN)
    per_minute, eta = pace(recent, still_open)
    return Progress(
        total=sum(by_status.values()),
        by_status=by_status,
        open=still_open,
        finished=sum(by_status[s] for s in FINAL),
        per_minute=per_minute,
        eta=eta,
    )
