"""A campaign page's buttons: pause, resume, cancel the rest (POST, esms_voice.run_campaign).

Each one calls its service (services.campaigns), leaves an admin log entry and says how many
calls it held, released or canceled. Cancel asks first, on a page of its own.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, ngettext

from .. import services
from ..exceptions import CampaignStateError
from ..models import Campaign
from ..services.campaigns import complete_campaigns, refusal
from ..states import CampaignState, cancelable
from .permissions import can_run_campaigns, can_see_campaigns


def get_campaign(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> Campaign:
    """The campaign of the URL, for a user who may see campaigns; 404 when there is none.

    A running one whose calls have all ended is completed first (services.complete_campaigns,
    the sweep's rule): its page says so, with no pause button, as soon as its last call ends.
    """
    if not can_see_campaigns(request.user):
        raise PermissionDenied
    campaign = modeladmin.get_object(request, object_id)
    if not isinstance(campaign, Campaign):
        raise Http404(gettext("No campaign with this id."))
    if campaign.state == CampaignState.RUNNING and complete_campaigns(campaign_ids=[campaign.pk]):
        campaign.refresh_from_db(fields=["state", "finished_at", "updated_at"])
    return campaign


def page_url(modeladmin: admin.ModelAdmin[Any], campaign: Campaign, view: str = "change") -> str:
    """The URL of one of the campaign's admin views (its page by default)."""
    return reverse(
        f"admin:esms_voice_campaign_{view}",
        args=[campaign.pk],
        current_app=modeladmin.admin_site.name,
    )


def _controlled(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> Campaign:
    """The campaign a button acts on: POST only, by a user who may run campaigns."""
    campaign = get_campaign(modeladmin, request, object_id)
    if request.method != "POST" or not can_run_campaigns(request.user):
        raise PermissionDenied
    return campaign


def pause_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """Pause the campaign: its calls not sent yet are held; those with eSMS finish."""
    campaign = _controlled(modeladmin, request, object_id)
    try:
        held = services.pause_campaign(campaign)
    except CampaignStateError as refused:
        return _refused(modeladmin, request, campaign, refused)
    message = ngettext(
        "Campaign paused: %(count)d call held. Calls already with eSMS finish.",
        "Campaign paused: %(count)d calls held. Calls already with eSMS finish.",
        held,
    ) % {"count": held}
    return _done(modeladmin, request, campaign, message)


def resume_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """Resume the campaign: its held calls are released and placed."""
    campaign = _controlled(modeladmin, request, object_id)
    try:
        released = services.resume_campaign(campaign)
    except CampaignStateError as refused:
        return _refused(modeladmin, request, campaign, refused)
    message = ngettext(
        "Campaign resumed: %(count)d call released to be placed.",
        "Campaign resumed: %(count)d calls released to be placed.",
        released,
    ) % {"count": released}
    return _done(modeladmin, request, campaign, message)


def cancel_view(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """Ask, then cancel the rest: every call never sent is canceled; sent calls finish."""
    campaign = get_campaign(modeladmin, request, object_id)
    if not can_run_campaigns(request.user):
        raise PermissionDenied
    refused = refusal(campaign, "cancel")  # no question for a campaign that cannot be canceled
    if refused is not None:
        return _refused(modeladmin, request, campaign, refused)
    if request.method != "POST" or request.POST.get("post") != "yes":
        return _cancel_confirmation(modeladmin, request, campaign)
    try:
        canceled = services.cancel_campaign(campaign)
    except CampaignStateError as late:  # someone else finished or canceled it meanwhile
        return _refused(modeladmin, request, campaign, late)
    message = ngettext(
        "Campaign canceled: %(count)d call not sent yet was canceled. "
        "Calls already with eSMS finish.",
        "Campaign canceled: %(count)d calls not sent yet were canceled. "
        "Calls already with eSMS finish.",
        canceled,
    ) % {"count": canceled}
    return _done(modeladmin, request, campaign, message)


def _done(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, campaign: Campaign, message: str
) -> HttpResponse:
    """Log what a button did, say it, and go back to the campaign's page."""
    modeladmin.log_change(request, campaign, message)
    modeladmin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(page_url(modeladmin, campaign))


def _refused(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    campaign: Campaign,
    refused: CampaignStateError,
) -> HttpResponse:
    """Say that the campaign's state does not allow the button (someone was faster)."""
    modeladmin.message_user(request, str(refused.message), messages.WARNING)
    return HttpResponseRedirect(page_url(modeladmin, campaign))


def _cancel_confirmation(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, campaign: Campaign
) -> TemplateResponse:
    """The page that asks before canceling: how many calls are canceled, how many finish."""
    calls = campaign.calls.order_by()
    count = calls.filter(cancelable()).count()
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Cancel the rest of “%(name)s”?") % {"name": campaign.name},
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "campaign": campaign,
        "count": count,
        "summary": ngettext(
            "%(count)d call not sent yet will be canceled; it will never be placed.",
            "%(count)d calls not sent yet will be canceled; they will never be placed.",
            count,
        )
        % {"count": count},
        "confirm_label": ngettext(
            "Yes, cancel %(count)d call", "Yes, cancel %(count)d calls", count
        )
        % {"count": count},
        "back": page_url(modeladmin, campaign),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "esms_voice/admin/campaign_cancel.html", context)


def campaign_url(
    request: HttpRequest, site_name: str, *, campaign_id: int | None = None, batch: str = ""
) -> str | None:
    """The page of a campaign (by id, or the newest named `batch`) for a user who may see it.

    None when the user may not see campaigns, the site has no campaign admin or none is found:
    the caller falls back to the call list.
    """
    if not can_see_campaigns(request.user):
        return None
    if campaign_id is None and batch:
        newest = Campaign.objects.filter(name=batch).order_by("-created_at", "-id")
        campaign_id = newest.values_list("pk", flat=True).first()
    if campaign_id is None:
        return None
    try:
        return reverse(
            "admin:esms_voice_campaign_change", args=[campaign_id], current_app=site_name
        )
    except NoReverseMatch:
        return None
