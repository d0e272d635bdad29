"""Today, the last 7 and the last 30 days: figures by campaign and by purpose, in one query."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from ...conf import voice_settings
from ...models import VoiceCall
from ...purposes import Purpose
from .tallies import Figures, Tally, grouped_sums


@dataclass(frozen=True)
class CampaignFigures:
    """One campaign's figures in a period; `campaign_id` None: the calls made without one."""

    campaign_id: int | None
    name: str | Promise
    purpose: str
    figures: Figures


@dataclass(frozen=True)
class PurposeFigures:
    """The figures of one purpose's calls in a period."""

    purpose: str
    label: str | Promise
    figures: Figures


@dataclass(frozen=True)
class Period:
    """A period's figures: all its calls, the top campaigns by calls, and each purpose."""

    key: str
    label: str | Promise
    since: dt.datetime
    figures: Figures
    campaigns: list[CampaignFigures]
    more_campaigns: int  # campaigns with calls in the period beyond the top ones
    purposes: list[PurposeFigures]


#: The overview's periods: today, the last 7 and 30 days, from local midnight.
PERIODS: tuple[tuple[str, str | Promise, int], ...] = (
    ("today", pgettext_lazy("report period", "Today"), 1),
    ("7d", pgettext_lazy("report period", "Last 7 days"), 7),
    ("30d", pgettext_lazy("report period", "Last 30 days"), 30),
)
NO_CAMPAIGN = pgettext_lazy("report", "No campaign")


def overview(
    now: dt.datetime | None = None,
    *,
    top: int = 10,
    calls: QuerySet[VoiceCall] | None = None,
) -> list[Period]:
    """Return today's, the last 7 days' and the last 30 days' figures, in one query.

    Calls count in the period they were created in (local days, today included). Calls made
    without a campaign are one row of the campaigns, and count for the DEFAULT_PURPOSE
    setting's purpose, the one a campaign made without a purpose gets.
    """
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [midnight - dt.timedelta(days=days - 1) for _, _, days in PERIODS]
    age = Case(
        *(When(created_at__gte=since, then=Value(i)) for i, since in enumerate(starts[:-1])),
        default=Value(len(starts) - 1),
        output_field=IntegerField(),
    )
    base = VoiceCall.objects.all() if calls is None else calls
    rows = grouped_sums(
        base.filter(created_at__gte=starts[-1]).annotate(age=age),
        now,
        "age",
        "campaign",
        "campaign__name",
        "campaign__purpose",
    )
    default_purpose = voice_settings().default_purpose
    totals = [Tally() for _ in PERIODS]
    by_campaign: list[dict[int | None, tuple[Tally, str | Promise, str]]] = [{} for _ in PERIODS]
    by_purpose: list[dict[str, Tally]] = [{p: Tally() for p in Purpose.values} for _ in PERIODS]
    for row in rows:
        purpose = row["campaign__purpose"] or default_purpose
        for i in range(row["age"], len(PERIODS)):
            totals[i].add(row)
            name = row["campaign__name"] if row["campaign"] is not None else NO_CAMPAIGN
            by_campaign[i].setdefault(row["campaign"], (Tally(), name, purpose))[0].add(row)
            by_purpose[i].setdefault(purpose, Tally()).add(row)
    periods = []
    for i, (key, label, _days) in enumerate(PERIODS):
        campaigns = sorted(
            (
                CampaignFigures(pk, name, purpose, t.figures())
                for pk, (t, name, purpose) in by_campaign[i].items()
            ),
            key=lambda row: (-row.figures.total, str(row.name)),
        )
        purposes = [
            PurposeFigures(p, Purpose(p).label if p in Purpose.values else p, t.figures())
            for p, t in by_purpose[i].items()
        ]
        periods.append(
            Period(
                key=key,
                label=label,
                since=starts[i],
                figures=totals[i].figures(),
                campaigns=campaigns[:top],
                more_campaigns=max(len(campaigns) - top, 0),
                purposes=purposes,
            )
        )
    return periods
