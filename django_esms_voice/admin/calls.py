"""Voice calls: the list, a read-only record per call, and the ways to place calls."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..esms.phone import normalize_phone
from ..exceptions import InvalidPhoneNumber
from ..models import VoiceCall
from ..states import can_cancel, can_refresh, can_retry
from . import display
from .actions import cancel_calls, place_now, refresh_calls, retry_calls
from .adding import PAYLOAD_FIELD, confirm_call, place_confirmed
from .banner import resume_placement_view
from .bulk import call_many_view
from .events import CallbackEventInline
from .filters import BatchFilter, CampaignFilter, ErrorCodeFilter, NoResultAfterFilter
from .forms import PlaceCallForm, option_fieldsets
from .host_action import call_objects_view
from .lists import AdminCallQuerySet, EstimatedCountPaginator
from .mixins import VoiceCallActionMixin
from .permissions import can_place_calls

# The admin class is generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _CallAdmin = admin.ModelAdmin[VoiceCall]
else:
    _CallAdmin = admin.ModelAdmin


#: Fields the change page shows through a method: secret script values never appear; times
#: read in the page's one format.
SHOWN_INSTEAD = {"variables": "shown_variables", "send_at": "send_at_shown"}
#: The times the app writes, shown in the page's one format (display.moment_field).
MOMENTS = (
    "created_at",
    "claimed_at",
    "next_attempt_at",
    "submitted_at",
    "last_polled_at",
    "completed_at",
    "updated_at",
)


#: What staff need first; the error only when there is one (get_fieldsets).
SUMMARY_FIELDS = (
    "linked_object",
    "phone",
    "said",
    "shown_variables",
    "status_badge",
    "outcome",
    "duration_shown",
    "ivr_pressed",
    "charged",
    "error_explained",
    "campaign_link",
    "retry_links",
)
#: The change page's buttons, one per list action they post.
BUTTON_LABELS = {
    "retry_calls": _("Retry this call"),
    "refresh_calls": _("Refresh status from eSMS"),
    "cancel_calls": _("Cancel this call"),
}


class VoiceCallAdmin(VoiceCallActionMixin, _CallAdmin):
    """Voice calls: the list, a read-only record per call, and the ways to place calls."""

    form = PlaceCallForm
    change_list_template = "esms_voice/admin/change_list.html"
    # Fits a 1280 px laptop screen in English and Vietnamese (tests/browser): what was said in
    # short, the status with its duration, key and price, the error cut to two lines
    # (admin.css, the whole of it on mouse-over); the call's page has the rest.
    list_display = (
        "phone",
        "said_briefly",
        "status_in_list",
        "error",
        "created_at_shown",
    )
    list_filter = (
        "status",
        "kind",
        "purpose",
        ("created_at", admin.DateFieldListFilter),
        CampaignFilter,
        BatchFilter,
        NoResultAfterFilter,
        ErrorCodeFilter,
    )
    # The search box: get_search_results() matches these exactly, through their indexes.
    search_fields = ("phone", "smsid", "uuid")
    search_help_text = _("An exact phone number, eSMS id (SMSID) or public id (uuid).")
    date_hierarchy = "created_at"
    # Ordering by a column without an index would sort the whole table.
    sortable_by = ("phone", "said_briefly", "status_in_list", "created_at_shown")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a facet is a COUNT per filter choice
    # No list column reads a relation; an explicit empty tuple keeps Django from joining.
    list_select_related = ()
    actions = [place_now, retry_calls, cancel_calls, refresh_calls]
    inlines = [CallbackEventInline]
    readonly_fields = (
        # What eSMS and the workers write.
        "uuid",
        "status",
        "status_badge",
        "attempts",
        "last_error_code",
        "last_error_message",
        "smsid",
        "call_status_shown",
        "duration",
        "ivr_pressed",
        "charged",
        "sent_result_shown",
        "cid",
        "send_status_shown",
        *(f"{name}_shown" for name in MOMENTS),
        "send_at_shown",
        "created_by",
        # Shown, not stored.
        "phone",
        "said",
        "outcome",
        "duration_shown",
        "error_explained",
        "shown_variables",
        "campaign_link",
        "linked_object",
        "retry_links",
        "timeline",
    )
    add_fieldsets = option_fieldsets()
    summary_fields = SUMMARY_FIELDS
    change_fieldsets = (
        (None, {"fields": summary_fields}),
        (_("Timeline"), {"fields": ("timeline",)}),
        (
            _("All fields, as stored"),
            {
                "classes": ("collapse",),
                "fields": (
                    "uuid",
                    # What the call was made with, in the add form's order.
                    *(
                        SHOWN_INSTEAD.get(name, name)
                        for _, section in add_fieldsets
                        for name in section["fields"]
                        if SHOWN_INSTEAD.get(name, name) not in SUMMARY_FIELDS
                    ),
                    "created_by",
                    "smsid",
                    "call_status_shown",
                    "duration",
                    "sent_result_shown",
                    "cid",
                    "send_status_shown",
                    "attempts",
                    "last_error_code",
                    "last_error_message",
                    *(f"{name}_shown" for name in MOMENTS),
                ),
            },
        ),
    )

    class Media:
        css = {"all": ("esms_voice/admin.css",)}

    # -- permissions: a call is a record; placing calls spends money

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Placing a call needs the add permission and esms_voice.place_voicecall."""
        return super().has_add_permission(request) and can_place_calls(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A call is never edited (cancel or retry it); the change permission runs actions."""
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A call is a record of money spent: never deleted here, not even by a superuser."""
        return False

    def has_place_voicecall_permission(self, request: HttpRequest) -> bool:
        """Whether the user may spend eSMS credit (the money-spending actions)."""
        return can_place_calls(request.user)

    # -- the list

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request)
        return AdminCallQuerySet(model=self.model, query=queryset.query, using=queryset.db)

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        """Match a phone number (in any usual spelling), an SMSID or a uuid, exactly."""
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(smsid__in={term, term.lower(), term.upper()})
        with contextlib.suppress(ValueError):
            query |= Q(uuid=uuid.UUID(term))
        with contextlib.suppress(InvalidPhoneNumber):
            query |= Q(phone=normalize_phone(term))
        return queryset.filter(query), False

    @admin.display(description=_("script variables"))
    def shown_variables(self, call: VoiceCall) -> str:
        return display.script_values(call)

    @admin.display(description=_("what was said"))
    def said(self, call: VoiceCall) -> str:
        return display.said(call)

    @admin.display(description=_("what was said"), ordering="kind")
    def said_briefly(self, call: VoiceCall) -> str:
        return display.said_briefly(call)

    @admin.display(description=_("result"))
    def outcome(self, call: VoiceCall) -> str:
        return display.outcome(call)

    @admin.display(description=_("duration"))
    def duration_shown(self, call: VoiceCall) -> str:
        return display.duration(call)

    @admin.display(description=_("error"))
    def error_explained(self, call: VoiceCall) -> SafeString:
        return display.error_explained(call)

    @admin.display(description=VoiceCall._meta.get_field("call_status").verbose_name)
    def call_status_shown(self, call: VoiceCall) -> str:
        return display.call_status(call)

    @admin.display(description=VoiceCall._meta.get_field("sent_result").verbose_name)
    def sent_result_shown(self, call: VoiceCall) -> str:
        return display.sent_result(call)

    @admin.display(description=VoiceCall._meta.get_field("send_status").verbose_name)
    def send_status_shown(self, call: VoiceCall) -> str:
        return display.send_status(call)

    send_at_shown = display.moment_field("send_at")
    created_at_shown = display.moment_field("created_at")
    claimed_at_shown = display.moment_field("claimed_at")
    next_attempt_at_shown = display.moment_field("next_attempt_at")
    submitted_at_shown = display.moment_field("submitted_at")
    last_polled_at_shown = display.moment_field("last_polled_at")
    completed_at_shown = display.moment_field("completed_at")
    updated_at_shown = display.moment_field("updated_at")

    @admin.display(description=VoiceCall._meta.get_field("price").verbose_name)
    def charged(self, call: VoiceCall) -> str:
        return display.price(call)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, call: VoiceCall) -> SafeString:
        return display.status_badge(call)

    @admin.display(description=_("status"), ordering="status")
    def status_in_list(self, call: VoiceCall) -> SafeString:
        return display.status_in_list(call)

    @admin.display(description=_("error"))
    def error(self, call: VoiceCall) -> SafeString | str:
        return display.error_briefly(call)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_call_many": self.has_add_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    # -- one call

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        if obj.last_error_code:
            return self.change_fieldsets
        summary = tuple(name for name in self.summary_fields if name != "error_explained")
        return ((None, {"fields": summary}), *self.change_fieldsets[1:])

    def call_buttons(self, request: HttpRequest, call: VoiceCall) -> list[tuple[str, str]]:
        """The list's actions that apply to this call and the user may run: (name, label)."""
        offered = self.get_actions(request)
        applies: dict[str, Callable[[], bool]] = {
            "retry_calls": lambda: can_retry(
                call.status,
                retried=VoiceCall.objects.filter(retry_of=call).exists(),
            ),
            "refresh_calls": lambda: can_refresh(call.status, call.smsid),
            "cancel_calls": lambda: can_cancel(call.status, call.attempts),
        }
        return [
            (name, str(BUTTON_LABELS[name]))
            for name, check in applies.items()
            if name in offered and check()
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The call's page, with buttons for the list's actions that apply to it."""
        call = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if call is not None:
            extra["esms_voice_call_buttons"] = self.call_buttons(request, call)
            extra["esms_voice_changelist_url"] = reverse(
                "admin:esms_voice_voicecall_changelist", current_app=self.admin_site.name
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else super().get_inline_instances(request, obj)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Save shows a confirmation with the cost; the call is created once it is confirmed."""
        if request.method == "POST":
            if not self.has_add_permission(request):
                raise PermissionDenied
            if PAYLOAD_FIELD in request.POST:
                return place_confirmed(self, request)
            confirmation = confirm_call(self, request)
            if confirmation is not None:
                return confirmation
        # A GET, or an invalid form: Django's add form, with the errors on their fields.
        # No "Save and continue editing": a placed call is never edited. "Save and add another"
        # stays: it confirms like Save, then comes back to an empty form for the next call.
        extra = {
            "title": gettext("Place a call"),
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return super().add_view(request, form_url, extra)

    def save_model(self, request: HttpRequest, obj: VoiceCall, form: Any, change: bool) -> None:
        """Never reached: add_view creates a call only through its confirmation."""
        raise PermissionDenied

    @admin.display(description=_("linked object"))
    def linked_object(self, call: VoiceCall) -> str:
        if call.content_type_id is None:
            return "-"
        content_type = call.content_type
        target = call.content_object
        label = str(target) if target is not None else f"{content_type} #{call.object_id}"
        try:
            url = reverse(
                f"admin:{content_type.app_label}_{content_type.model}_change",  # type: ignore[union-attr]
                args=[call.object_id],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=_("campaign"))
    def campaign_link(self, call: VoiceCall) -> str:
        """The campaign the call belongs to, linked to its page, and where it is."""
        campaign = call.campaign if call.campaign_id is not None else None
        if campaign is None:
            return "-"
        try:
            url = reverse(
                "admin:esms_voice_campaign_change",
                args=[campaign.pk],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return f"{campaign} ({campaign.get_state_display()})"
        return format_html(
            '<a href="{}">{}</a> ({})', url, campaign.name, campaign.get_state_display()
        )

    @admin.display(description=_("retries"))
    def retry_links(self, call: VoiceCall) -> str:
        """The call this one retries, and the calls that retry it."""
        links = []
        if call.retry_of_id is not None:
            links.append(
                (
                    self._change_url(call.retry_of_id),
                    gettext("retry of #%(id)d") % {"id": call.retry_of_id},
                )
            )
        for pk in VoiceCall.objects.filter(retry_of=call).values_list("pk", flat=True)[:20]:
            links.append((self._change_url(pk), gettext("retried as #%(id)d") % {"id": pk}))
        if not links:
            return "-"
        return format_html_join(", ", '<a href="{}">{}</a>', links)

    def _change_url(self, pk: int) -> str:
        return reverse(
            "admin:esms_voice_voicecall_change", args=[pk], current_app=self.admin_site.name
        )

    @admin.display(description=_("timeline"))
    def timeline(self, call: VoiceCall) -> SafeString:
        """What happened to the call, in order: our steps and every callback and poll."""
        return display.timeline(call)

    # -- views of their own

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "call-many/",
                self.admin_site.admin_view(self.call_many_view),
                name="{}_{}_call_many".format(*info),
            ),
            path(
                "call-objects/",
                self.admin_site.admin_view(self.call_objects_view),
                name="{}_{}_call_objects".format(*info),
            ),
            path(
                "resume-placement/",
                self.admin_site.admin_view(self.resume_placement_view),
                name="{}_{}_resume_placement".format(*info),
            ),
            *super().get_urls(),
        ]

    def call_many_view(self, request: HttpRequest) -> HttpResponse:
        """Call many numbers: paste or upload, preview, confirm."""
        return call_many_view(self, request)

    def call_objects_view(self, request: HttpRequest) -> HttpResponse:
        """Where call_action()'s form posts."""
        return call_objects_view(self, request)

    def resume_placement_view(self, request: HttpRequest) -> HttpResponse:
        """Where the account pause banner's "Resume placement" posts."""
        return resume_placement_view(self, request)
