"""Campaigns: the list with each one's progress, answer rate and cost; a page per campaign.

A campaign is made by call-many, the host-model action, the API or code, never here; what it
says is not edited and it is never deleted (its calls are records of money spent). Its page
(campaign_page.py) shows the results and pauses, resumes or cancels it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import Campaign
from ..services.campaigns import complete_campaigns
from . import campaign_controls, campaign_page, overview, readable
from .permissions import can_run_campaigns, can_see_campaigns

# The admin class is generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _CampaignAdmin = admin.ModelAdmin[Campaign]
else:
    _CampaignAdmin = admin.ModelAdmin


class FiguresChangeList(ChangeList):
    """The campaign list: the page's campaigns get their figures in one query, not one each."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        campaign_page.attach_figures(list(self.result_list))


class CampaignAdmin(_CampaignAdmin):
    """Campaigns: who made what, where it is, how it went, what it cost."""

    change_list_template = "esms_voice/admin/campaign_list.html"
    # The purpose and what made it read under the name: eight columns do not fit beside the
    # filters on a laptop's screen.
    list_display = (
        "campaign",
        "state_badge",
        "created",
        "progress",
        "answered_rate",
        "cost",
    )
    list_display_links = None  # "campaign" links the name itself
    list_filter = ("state", "purpose", "source")
    search_fields = ("name",)
    search_help_text = _("Part of a campaign's name.")
    date_hierarchy = None
    list_select_related = ("created_by",)
    sortable_by = ("campaign", "state_badge", "created")
    show_facets = admin.ShowFacets.NEVER
    actions = None

    # -- permissions: made elsewhere, never edited or deleted; run by esms_voice.run_campaign

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Who may see calls may see the campaigns they make up."""
        return can_see_campaigns(request.user)

    def has_run_campaign_permission(self, request: HttpRequest) -> bool:
        """Whether the user may pause, resume and cancel (esms_voice.run_campaign)."""
        return can_run_campaigns(request.user)

    # -- the list

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("created_by")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FiguresChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list; running campaigns whose calls have all ended are completed first.

        The sweep's rule (services.complete_campaigns), so that the list and its state filter
        say "Completed" as soon as a campaign's last call ends, not at the next sweep.
        """
        if can_see_campaigns(request.user):
            complete_campaigns()
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, campaign: Campaign) -> str:
        return campaign_page.state_badge(campaign)

    @admin.display(description=_("campaign"), ordering="name")
    def campaign(self, campaign: Campaign) -> SafeString:
        """Its name, linked to its page; below, its purpose, what made it and who."""
        about = [campaign.get_purpose_display(), campaign.get_source_display()]
        if campaign.created_by:
            about.append(str(campaign.created_by))
        return format_html(
            '<a href="{}">{}</a><br><span class="esms-voice-sub">{}</span>',
            campaign_controls.page_url(self, campaign),
            campaign.name,
            " · ".join(str(part) for part in about),
        )

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, campaign: Campaign) -> str:
        return formats.date_format(timezone.localtime(campaign.created_at), "Y-m-d H:i")

    @admin.display(description=_("progress"))
    def progress(self, campaign: Campaign) -> str:
        """Finished calls out of all: "1.234 / 5.000"."""
        return campaign_page.progress_text(campaign_page.figures_of(campaign))

    @admin.display(description=_("answer rate"))
    def answered_rate(self, campaign: Campaign) -> str:
        return readable.rate(campaign_page.figures_of(campaign).answer_rate)

    @admin.display(description=_("cost"))
    def cost(self, campaign: Campaign) -> str:
        return readable.money(campaign_page.figures_of(campaign).total_cost)

    # -- the campaign page and its views

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The campaign page: results, charts and controls instead of a form."""
        return campaign_page.campaign_view(self, request, object_id)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        views = [
            ("overview/", overview.overview_view, "overview"),
            ("<path:object_id>/progress/", campaign_page.progress_view, "progress"),
            ("<path:object_id>/pause/", campaign_controls.pause_view, "pause"),
            ("<path:object_id>/resume/", campaign_controls.resume_view, "resume"),
            ("<path:object_id>/cancel/", campaign_controls.cancel_view, "cancel"),
            ("<path:object_id>/export/<str:fmt>/", campaign_page.export_view, "export"),
        ]
        return [
            *(
                path(
                    route,
                    self.admin_site.admin_view(_bound(self, view)),
                    name="{}_{}_{}".format(*info, name),
                )
                for route, view, name in views
            ),
            *super().get_urls(),
        ]


def _bound(modeladmin: CampaignAdmin, view: Any) -> Any:
    """A view of this admin: the view function with the admin passed first."""

    def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return view(modeladmin, request, *args, **kwargs)  # type: ignore[no-any-return]

    bound.__name__ = bound.__qualname__ = view.__name__
    bound.__doc__ = view.__doc__
    return bound
