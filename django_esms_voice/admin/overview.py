"""The managers' overview: today, the last 7 and 30 days, by campaign and by purpose, charted.

One query for the three periods (services.reporting.overview); the page shows one period in
full, picked by ``?period=``, and the three side by side at the top.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext

from ..purposes import Purpose
from ..services import reporting
from ..services.reporting import Figures
from . import campaign_page, charts, readable
from .permissions import can_see_campaigns

DEFAULT_PERIOD = "7d"


def summary(figures: Figures) -> dict[str, Any]:
    """A period's or a row's figures as the overview's tables show them."""
    return {
        "total": figures.total,
        "calls": readable.count(figures.total),
        "finished": readable.count(figures.finished),
        "answered": readable.count(figures.answered),
        "answer_rate": readable.rate(figures.answer_rate),
        "key_press_rate": readable.rate(figures.key_press_rate),
        "average_duration": readable.duration(figures.average_duration),
        "cost": readable.money(figures.total_cost),
        "bar": charts.mini_bar(campaign_page.bar_parts(figures)),
    }


def overview_view(modeladmin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """The overview page."""
    if not can_see_campaigns(request.user):
        raise PermissionDenied
    site = modeladmin.admin_site.name
    periods = reporting.overview()
    keys = [period.key for period in periods]
    chosen_key = request.GET.get("period", DEFAULT_PERIOD)
    chosen = periods[keys.index(chosen_key)] if chosen_key in keys else periods[1]
    campaigns = [
        {
            "name": row.name,
            "url": _campaign_url(row.campaign_id, site),
            "purpose": Purpose(row.purpose).label if row.purpose in Purpose.values else row.purpose,
            **summary(row.figures),
        }
        for row in chosen.campaigns
    ]
    purposes = [
        {"label": row.label, **summary(row.figures)} for row in chosen.purposes if row.figures.total
    ]
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Overview of the calls"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "periods": [
            {
                "key": period.key,
                "label": period.label,
                "since": period.since,
                "url": f"?{urlencode({'period': period.key})}",
                "current": period is chosen,
                **summary(period.figures),
            }
            for period in periods
        ],
        "period": chosen,
        "period_summary": summary(chosen.figures),
        "status_bar": charts.status_bar(campaign_page.bar_parts(chosen.figures)),
        "campaigns": campaigns,
        "more_campaigns": chosen.more_campaigns,
        "purposes": purposes,
    }
    request.current_app = site
    return TemplateResponse(request, "esms_voice/admin/overview.html", context)


def _campaign_url(campaign_id: int | None, site: str) -> str | None:
    """A campaign's page, none for the calls made without one."""
    if campaign_id is None:
        return None
    try:
        return reverse("admin:esms_voice_campaign_change", args=[campaign_id], current_app=site)
    except NoReverseMatch:
        return None
