"""Callback events: every delivery and status poll as received, read-only; a call's inline.

An event is what eSMS said: never added, edited or deleted here. The one thing done to one is
to reprocess it when it failed (services.reprocess_events), with the change permission on
callback events.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from .. import services
from ..models import CallbackEvent, VoiceCall
from ..moments import local_time
from .display import EVENTS_SHOWN, result_summary, status_change
from .lists import AdminEventQuerySet, EstimatedCountPaginator
from .permissions import can_reprocess_events, can_see_calls

# The admin classes are generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _EventAdmin = admin.ModelAdmin[CallbackEvent]
    _EventInline = admin.TabularInline[CallbackEvent, VoiceCall]
else:
    _EventAdmin = admin.ModelAdmin
    _EventInline = admin.TabularInline


class NewestEventsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """The newest EVENTS_SHOWN events of a call (a formset cannot slice in get_queryset)."""

    def get_queryset(self) -> Any:
        if not getattr(self, "_sliced", False):
            self._queryset = super().get_queryset()[:EVENTS_SHOWN]
            self._sliced = True
        return self._queryset


class CallbackEventInline(_EventInline):
    """The call's callbacks and polls, newest first, read-only."""

    model = CallbackEvent
    fk_name = "call"
    formset = NewestEventsFormSet
    fields = ("received", "source", "outcome", "status_change", "result", "error")
    readonly_fields = fields
    ordering = ("-received_at", "-id")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("callback events (newest first)")

    @admin.display(description=CallbackEvent._meta.get_field("received_at").verbose_name)
    def received(self, event: CallbackEvent) -> str:
        return local_time(event.received_at)

    @admin.display(description=_("status"))
    def status_change(self, event: CallbackEvent) -> str:
        return status_change(event)

    @admin.display(description=_("result"))
    def result(self, event: CallbackEvent) -> str:
        return result_summary(event)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may see the call sees its events."""
        return can_see_calls(request.user)


class CallbackEventAdmin(_EventAdmin):
    """Every callback delivery and status poll, as received: read-only."""

    list_display = (
        "received_at",
        "source",
        "outcome",
        "call_link",
        "status_change",
        "method",
        "remote_addr",
    )
    list_filter = ("outcome", "source", ("received_at", admin.DateFieldListFilter))
    list_select_related = ("call",)
    date_hierarchy = "received_at"
    search_fields = ("call__uuid",)
    search_help_text = _("The public id (uuid) of a call.")
    sortable_by = ("received_at",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "received_at",
        "source",
        "outcome",
        "call_link",
        "status_change",
        "method",
        "remote_addr",
        "raw",
        "parsed",
        "fingerprint",
        "error",
        "reprocessed_at",
        "reprocess_count",
    )
    readonly_fields = fields
    actions = ["reprocess_selected"]

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request)
        return AdminEventQuerySet(model=self.model, query=queryset.query, using=queryset.db)

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        """Match a call's uuid exactly (the events' foreign key column)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(call_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never, not even for a superuser: old events are the purge's (esms_voice_purge)."""
        return False

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        """Whether the user may judge failed events again (the change right on events)."""
        return can_reprocess_events(request.user)

    @admin.action(description=_("Reprocess selected events"), permissions=["reprocess"])
    def reprocess_selected(
        self, request: HttpRequest, queryset: models.QuerySet[CallbackEvent]
    ) -> None:
        """Judge the selected failed events again, each on its own row; say what became of them."""
        if not can_reprocess_events(request.user):
            raise PermissionDenied
        report = services.reprocess_events(queryset)
        for entry in report.reprocessed:
            self.log_change(request, entry.event, _change_message(entry.changed))
        level = messages.SUCCESS if report.succeeded else messages.WARNING
        self.message_user(request, str(report), level)

    @admin.display(description=_("call"), ordering="call")
    def call_link(self, event: CallbackEvent) -> str:
        if event.call is None:
            return "-"
        url = reverse(
            "admin:esms_voice_voicecall_change",
            args=[event.call.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, event.call)

    @admin.display(description=_("status"))
    def status_change(self, event: CallbackEvent) -> str:
        return status_change(event)


def _change_message(changed: tuple[str, ...]) -> list[dict[str, Any]]:
    """The history's "Changed …" entry, untranslated as Django stores it (shown translated)."""
    with override(None):
        labels = [_label(name) for name in changed]
    return [{"changed": {"fields": labels}}]


def _label(name: str) -> str:
    """Return an event column's label."""
    field = CallbackEvent._meta.get_field(name)
    return str(field.verbose_name) if isinstance(field, models.Field) else name
