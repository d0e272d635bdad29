"""The figures a manager reads: a set of calls' counts, rates, cost, pace and errors by cause,
a timeline of their outcomes, and an overview of today, the week and the month.

Each is a fixed number of queries whatever the number of calls: figures() one,
figures_by_campaign() one for a list's campaigns, timeline() one (two without the figures
giving its span), overview() one, progress() (what a live page polls) two.
"""

from __future__ import annotations

from .overviews import NO_CAMPAIGN, PERIODS, CampaignFigures, Period, PurposeFigures, overview
from .tallies import (
    ERROR_STATUSES,
    OPEN,
    PACE_WINDOW,
    PACED,
    ErrorGroup,
    Figures,
    Progress,
    campaign_calls,
    campaign_figures,
    figures,
    figures_by_campaign,
    progress,
)
from .timelines import OUTCOMES, UNITS, Bucket, Timeline, timeline

__all__ = [
    "ERROR_STATUSES",
    "NO_CAMPAIGN",
    "OPEN",
    "OUTCOMES",
    "PACED",
    "PACE_WINDOW",
    "PERIODS",
    "UNITS",
    "Bucket",
    "CampaignFigures",
    "ErrorGroup",
    "Figures",
    "Period",
    "Progress",
    "PurposeFigures",
    "Timeline",
    "campaign_calls",
    "campaign_figures",
    "figures",
    "figures_by_campaign",
    "overview",
    "progress",
    "timeline",
]
