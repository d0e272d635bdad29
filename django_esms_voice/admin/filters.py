"""The call list's own filters: campaigns, recent batches, overdue calls, error codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..errors import LEGACY_CODES, VOCABULARY, explain
from ..models import Campaign, VoiceCall
from ..states import FINAL, result_due_since

RECENT_BATCH_DAYS = 30
RECENT_BATCH_SCAN = 1000
RECENT_BATCH_CHOICES = 20
RECENT_CAMPAIGN_CHOICES = 20


class CampaignFilter(admin.SimpleListFilter):
    """The calls of one campaign: the newest campaigns are offered, any is reached by a link."""

    title = _("campaign")
    parameter_name = "campaign"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = Campaign.objects.order_by("-created_at", "-id").values_list("pk", "name")
        choices = [(str(pk), name) for pk, name in recent[:RECENT_CAMPAIGN_CHOICES]]
        current = self.value()
        if current and current.isdigit() and current not in {pk for pk, _ in choices}:
            # An older campaign reached from its page stays selectable.
            older = Campaign.objects.filter(pk=int(current)).values_list("pk", "name")
            choices[:0] = [(str(pk), name) for pk, name in older]
        return choices

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(campaign_id=int(value)) if value.isdigit() else queryset.none()


class BatchFilter(admin.SimpleListFilter):
    """Recent batches: the newest calls' batch names, read from the created_at index."""

    title = _("batch")
    parameter_name = "batch"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        since = timezone.now() - dt.timedelta(days=RECENT_BATCH_DAYS)
        names = (
            VoiceCall.objects.filter(created_at__gte=since)
            .exclude(batch="")
            .order_by("-created_at")
            .values_list("batch", flat=True)[:RECENT_BATCH_SCAN]
        )
        recent = list(dict.fromkeys(names))[:RECENT_BATCH_CHOICES]
        current = self.value()
        if current and current not in recent:
            recent.insert(0, current)  # an older batch reached through a link stays selectable
        return [(name, name) for name in recent]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(batch=value) if value else queryset


class NoResultAfterFilter(admin.SimpleListFilter):
    """Calls still open a while after they were due: a sign that a result went missing."""

    title = _("no result after")
    parameter_name = "no_result_after"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("15", _("15 minutes")), ("60", _("1 hour")), ("240", _("4 hours"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if value not in ("15", "60", "240"):
            return queryset
        cutoff = timezone.now() - dt.timedelta(minutes=int(value))
        due = queryset.annotate(due_since=result_due_since()).filter(due_since__lte=cutoff)
        return due.exclude(status__in=FINAL)


class ErrorCodeFilter(admin.SimpleListFilter):
    """The calls that stopped with one error code: the whole vocabulary, explained, no count."""

    title = _("error")
    parameter_name = "error"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # From the table, not the rows: choices cost no query (facets are off for the same reason).
        return [(code, f"{code} · {explain(code).meaning}") for code in VOCABULARY]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if not value:
            return queryset
        if value not in VOCABULARY:
            return queryset.none()
        # A row stored before migration 0015 still has its class name.
        codes = [value, *(old for old, new in LEGACY_CODES.items() if new == value)]
        return queryset.filter(last_error_code__in=codes)
