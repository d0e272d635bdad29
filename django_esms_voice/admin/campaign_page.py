"""A campaign's page: progress (refreshed live), results, charts, errors by cause, its buttons.

The numbers are services.reporting's, in a fixed number of queries at any campaign size: the
campaign, its figures, its timeline, the account pause banner (and the session and user).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import django
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.http import content_disposition_header, urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import policies
from ..models import Campaign, VoiceCall
from ..options import CallKind
from ..services import exporting, reporting
from ..services.campaigns import allows
from ..services.reporting import Figures
from ..states import CallStatus
from . import charts, readable
from .campaign_controls import get_campaign, page_url
from .permissions import can_run_campaigns, can_see_calls

#: The options a campaign records that a call field describes.
VOICE_CALL_FIELDS = {f.name: f.verbose_name for f in VoiceCall._meta.concrete_fields}
#: How often the page asks for fresh counts while the campaign runs (milliseconds).
REFRESH_MS = 5000

#: The parts of the status bar: (the status class it is drawn with, label, statuses counted).
PARTS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("pending", _("Waiting to be sent"), (CallStatus.PENDING, CallStatus.SUBMITTING)),
    ("accepted", _("With eSMS, no result yet"), (CallStatus.ACCEPTED, CallStatus.IN_PROGRESS)),
    *(
        (status.value, status.label, (status.value,))
        for status in (
            CallStatus.ANSWERED,
            CallStatus.NO_ANSWER,
            CallStatus.FAILED,
            CallStatus.REJECTED,
            CallStatus.ERROR,
            CallStatus.UNKNOWN,
            CallStatus.CANCELED,
        )
    ),
)
#: The outcomes the results table lists, with the figure that counts each.
OUTCOME_ROWS: tuple[tuple[str, Any], ...] = (
    ("answered", CallStatus.ANSWERED.label),
    ("no_answer", CallStatus.NO_ANSWER.label),
    ("failed", CallStatus.FAILED.label),
    ("refused", _("Refused by eSMS")),
    ("unknown", CallStatus.UNKNOWN.label),
    ("errors", _("Not sent (gave up)")),
    ("canceled", CallStatus.CANCELED.label),
)


class Counted(Protocol):
    """What the live part reads: reporting's Figures, or its cheaper Progress."""

    @property
    def total(self) -> int: ...
    @property
    def by_status(self) -> Mapping[str, int]: ...
    @property
    def open(self) -> int: ...
    @property
    def finished(self) -> int: ...
    @property
    def per_minute(self) -> float: ...
    @property
    def eta(self) -> dt.timedelta | None: ...


def bar_parts(figures: Counted) -> list[charts.Part]:
    """The status bar's parts: how many calls wait, are with eSMS, ended each way."""
    return [
        charts.Part(key, label, sum(figures.by_status.get(s, 0) for s in statuses))
        for key, label, statuses in PARTS
    ]


def progress(campaign: Campaign, figures: Counted) -> dict[str, Any]:
    """What the live part of the page shows: its texts and the bar's parts (also the JSON)."""
    parts = bar_parts(figures)
    total = figures.total
    return {
        "state": campaign.state,
        "open": figures.open,
        "done_percent": round(charts.percent(figures.finished, total), 2),
        "parts": {
            p.key: {
                "count": p.count,
                "count_text": readable.count(p.count),
                "share": readable.share(p.count, total),
                "width": round(charts.percent(p.count, total), 3),
            }
            for p in parts
        },
        "text": {
            "state": str(campaign.get_state_display()),
            "progress": f"{readable.count(figures.finished)} / {readable.count(total)}",
            "done_share": readable.share(figures.finished, total),
            "open": readable.count(figures.open),
            "pace": readable.pace(figures.per_minute),
            "eta": readable.eta(figures.eta, figures.open),
            "breakdown": charts.breakdown_text(parts),
        },
    }


def outcome_rows(figures: Figures) -> list[dict[str, Any]]:
    """The results table: each outcome, its count and its share of the finished calls."""
    return [
        {
            "key": key,
            "label": label,
            "count": readable.count(getattr(figures, key)),
            "share": readable.share(getattr(figures, key), figures.finished),
        }
        for key, label in OUTCOME_ROWS
    ]


def what_is_said(campaign: Campaign) -> str:
    """The recording or script the calls play and the options they share, as one line."""
    kind = CallKind(campaign.kind).label if campaign.kind in CallKind.values else campaign.kind
    shared = [
        f"{VOICE_CALL_FIELDS[name]}: {value}"
        for name, value in campaign.options.items()
        if value not in (None, "") and name in VOICE_CALL_FIELDS
    ]
    said = f"{kind} {campaign.template_id}".strip()
    return f"{said} — {', '.join(shared)}" if shared else said


def campaign_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """The campaign page."""
    campaign = get_campaign(modeladmin, request, object_id)
    figures = reporting.campaign_figures(campaign)
    timeline = reporting.timeline(campaign, figures=figures)
    series = [charts.Part(s.value, s.label, 0) for s in reporting.OUTCOMES]
    can_run = can_run_campaigns(request.user)
    opts = modeladmin.model._meta
    site = modeladmin.admin_site.name
    live = progress(campaign, figures)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": campaign.name,
        "subtitle": None,
        # Django 6.1's base.html shows the object-tools block beside the title, outside the
        # content; up to 6.0 that block sits inside the content this page replaces, so the
        # links go in the content, floated up as the change form floats its own.
        "tools_in_header": django.VERSION >= (6, 1),
        "opts": opts,
        "app_label": opts.app_label,
        "original": campaign,
        "campaign": campaign,
        "figures": figures,
        "live": live,
        "refresh_ms": REFRESH_MS if campaign.is_open and figures.open else 0,
        "status_bar": charts.status_bar(bar_parts(figures)),
        "timeline_chart": charts.timeline_chart(
            timeline, series, timeline.step, title=gettext("Calls finished over time")
        ),
        "series": series,
        "outcomes": outcome_rows(figures),
        "said": what_is_said(campaign),
        "cap": policies.describe_cap(campaign.purpose, campaign.frequency_cap),
        "answer_rate": readable.rate(figures.answer_rate),
        "total_cost": readable.money(figures.total_cost),
        "key_press_rate": readable.rate(figures.key_press_rate),
        "average_duration": readable.duration(figures.average_duration),
        "total_duration": readable.duration(figures.total_duration),
        "error_groups": [
            {
                "code": group.code,
                "count": readable.count(group.count),
                "meaning": group.meaning,
                "advice": group.advice,
            }
            for group in figures.error_groups
        ],
        "can_pause": can_run and allows(campaign, "pause"),
        "can_resume": can_run and allows(campaign, "resume"),
        "can_cancel": can_run and allows(campaign, "cancel"),
        "urls": {
            "pause": page_url(modeladmin, campaign, "pause"),
            "resume": page_url(modeladmin, campaign, "resume"),
            "cancel": page_url(modeladmin, campaign, "cancel"),
            "progress": page_url(modeladmin, campaign, "progress"),
            "history": page_url(modeladmin, campaign, "history"),
            "csv": reverse(
                "admin:esms_voice_campaign_export", args=[campaign.pk, "csv"], current_app=site
            ),
            "xlsx": reverse(
                "admin:esms_voice_campaign_export", args=[campaign.pk, "xlsx"], current_app=site
            ),
            "calls": calls_url(request, site, campaign),
        },
    }
    request.current_app = site
    return TemplateResponse(request, "esms_voice/admin/campaign.html", context)


def calls_url(request: HttpRequest, site: str, campaign: Campaign) -> str | None:
    """The call list filtered on the campaign, for a user who may see calls."""
    if not can_see_calls(request.user):
        return None
    url = reverse("admin:esms_voice_voicecall_changelist", current_app=site)
    return f"{url}?{urlencode({'campaign': campaign.pk})}"


def progress_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """The live counts of the campaign page, as JSON: the page refreshes them from here."""
    campaign = get_campaign(modeladmin, request, object_id)
    # reporting.progress() reads two indexes, cheaper than the figures; never cached (the
    # admin's views are never_cache).
    return JsonResponse(progress(campaign, reporting.progress(campaign)))


def export_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str, fmt: str
) -> HttpResponseBase:
    """The campaign's calls as a CSV (streamed) or Excel file, for a user who may see calls."""
    campaign = get_campaign(modeladmin, request, object_id)
    if not can_see_calls(request.user):  # the rows hold phone numbers
        raise PermissionDenied
    if fmt == "csv":
        language = translation.get_language()
        response = StreamingHttpResponse(
            _in_language(exporting.stream_csv(campaign), language),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = content_disposition_header(
            True, exporting.export_filename(campaign, "csv")
        )
        return response
    if fmt != "xlsx":
        raise Http404
    try:
        file = exporting.write_xlsx(campaign)
    except exporting.ExcelNotInstalled:
        modeladmin.message_user(
            request,
            gettext("Excel export is not installed here: export as CSV, or install %(extra)s.")
            % {"extra": "django-esms-voice[excel]"},
            messages.ERROR,
        )
        return HttpResponseRedirect(page_url(modeladmin, campaign))
    return FileResponse(
        file,
        as_attachment=True,
        filename=exporting.export_filename(campaign, "xlsx"),
        content_type=exporting.XLSX_CONTENT_TYPE,
    )


def _in_language(pieces: Iterator[str], language: str | None) -> Iterator[str]:
    """Stream pieces in the request's language: they are made after the view has returned."""
    with translation.override(language):
        yield from pieces


# -- the campaign list


def attach_figures(campaigns: Iterable[Campaign]) -> None:
    """Give each campaign of a list page its figures, all read in one query."""
    campaigns = list(campaigns)
    figures = reporting.figures_by_campaign(campaign.pk for campaign in campaigns)
    for campaign in campaigns:
        campaign._figures = figures[campaign.pk]  # type: ignore[attr-defined]


def figures_of(campaign: Campaign) -> Figures:
    """A listed campaign's figures (attach_figures), or read now for one shown alone."""
    figures = getattr(campaign, "_figures", None)
    if figures is None:
        figures = reporting.campaign_figures(campaign)
        campaign._figures = figures  # type: ignore[attr-defined]
    return figures


def state_badge(campaign: Campaign) -> SafeString:
    """The campaign's state as a coloured badge."""
    return format_html(
        '<span class="esms-voice-state esms-voice-state-{}">{}</span>',
        campaign.state,
        campaign.get_state_display(),
    )


def progress_text(figures: Figures) -> str:
    """Finished calls out of all: "1.234 / 5.000"."""
    return f"{readable.count(figures.finished)} / {readable.count(figures.total)}"
