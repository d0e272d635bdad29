"""The admin: voice calls and callback events, the forms that place calls, the host-model action.

The call list stays fast on a large table: no full COUNT(*) on every load (an estimate on an
unfiltered PostgreSQL table, no second count, no facets), filters and search that use the
model's indexes, and a date hierarchy drawn from MIN/MAX instead of a DISTINCT over every row.

Host projects add ``call_action()`` to their own model admins::

    from django_esms_voice.admin import call_action

    class CustomerAdmin(admin.ModelAdmin):
        actions = [call_action(phone_field="phone", variables=["name", "amount"])]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Max, Min, Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import services
from .admin_actions import (
    _has_esms_voice_call_permission,
    call_action,
    call_many_view,
    call_objects_view,
    can_place_calls,
    can_see_calls,
    cancel_calls,
    place_now,
    refresh_calls,
    retry_calls,
)
from .admin_forms import PlaceCallForm
from .esms.phone import normalize_phone
from .exceptions import InvalidPhoneNumber
from .models import CallbackEvent, VoiceCall, VoiceCallQuerySet
from .states import FINAL, CallStatus, status_label

__all__ = ["CallbackEventAdmin", "VoiceCallAdmin", "call_action"]

# The admin classes are generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _CallAdmin = admin.ModelAdmin[VoiceCall]
    _EventAdmin = admin.ModelAdmin[CallbackEvent]
    _EventInline = admin.TabularInline[CallbackEvent, VoiceCall]
    _Paginator = Paginator[Any]
else:
    _CallAdmin = _EventAdmin = admin.ModelAdmin
    _EventInline = admin.TabularInline
    _Paginator = Paginator

# Django offers an action whose `allowed_permissions` name `has_<name>_permission` methods only
# when one of them says yes. Host admins do not define ours, so every ModelAdmin gets it (a new
# name, nothing of Django's is replaced); an admin may override it.
if not hasattr(admin.ModelAdmin, "has_esms_voice_call_permission"):
    admin.ModelAdmin.has_esms_voice_call_permission = _has_esms_voice_call_permission  # type: ignore[attr-defined]

#: Callback events shown on a call's page (inline and timeline), newest first.
EVENTS_SHOWN = 50
#: Above this many rows (the planner's estimate), an unfiltered list is not counted exactly.
ESTIMATE_ABOVE = 100_000
RECENT_BATCH_DAYS = 30
RECENT_BATCH_SCAN = 1000
RECENT_BATCH_CHOICES = 20
OPEN_STATUSES = tuple(status for status in CallStatus.values if status not in FINAL)


def _when(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i:s")


# ----------------------------------------------------------------------------- large tables


class EstimatedCountPaginator(_Paginator):
    """Count an unfiltered PostgreSQL table from the planner's estimate instead of COUNT(*).

    A big table's pg_class.reltuples (kept fresh by autovacuum) is close enough for the page
    links; a small table, a filtered list or another database is counted exactly.
    """

    @cached_property
    def count(self) -> int:
        """Return the number of rows, estimated for a big unfiltered PostgreSQL table."""
        queryset = self.object_list
        if isinstance(queryset, models.QuerySet) and not queryset.query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                table = connection.ops.quote_name(queryset.model._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table]
                    )
                    row = cursor.fetchone()
                if row and row[0] >= ESTIMATE_ABOVE:
                    return int(row[0])
        return super().count


class PeriodsFromBoundsMixin:
    """Draw the date hierarchy's years, months and days from MIN and MAX of the column.

    Django's date hierarchy asks for DISTINCT truncated dates, which reads every row of the
    list; MIN and MAX read two index entries. The price: a period without calls is offered too.
    """

    def datetimes(
        self,
        field_name: str,
        kind: str,
        order: str = "ASC",
        tzinfo: dt.tzinfo | None = None,
    ) -> Any:
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)  # type: ignore[misc]
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))  # type: ignore[attr-defined]
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (bounds[name].astimezone(zone) for name in ("first", "last"))
        periods = list(_periods(first, last, kind, zone))
        return periods[::-1] if order == "DESC" else periods


def _periods(
    first: dt.datetime, last: dt.datetime, kind: str, zone: dt.tzinfo
) -> Iterator[dt.datetime]:
    """Yield the start of every year, month or day from first to last."""
    if kind == "year":
        for year in range(first.year, last.year + 1):
            yield dt.datetime(year, 1, 1, tzinfo=zone)
    elif kind == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            yield dt.datetime(year, month, 1, tzinfo=zone)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        day = first.date()
        while day <= last.date():
            yield dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            day += dt.timedelta(days=1)


class AdminCallQuerySet(PeriodsFromBoundsMixin, VoiceCallQuerySet):
    """The call list's queryset."""


class AdminEventQuerySet(PeriodsFromBoundsMixin, models.QuerySet[CallbackEvent]):
    """The event list's queryset."""


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
        # A scheduled call is due at its send_at, not when it was created.
        due = Q(send_at__isnull=True, created_at__lte=cutoff) | Q(send_at__lte=cutoff)
        return queryset.filter(due, status__in=OPEN_STATUSES)


# ----------------------------------------------------------------------------- events


class NewestEventsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """The newest EVENTS_SHOWN events of a call (a formset cannot slice in get_queryset)."""

    def get_queryset(self) -> Any:
        if not getattr(self, "_sliced", False):
            self._queryset = super().get_queryset()[:EVENTS_SHOWN]
            self._sliced = True
        return self._queryset


def _result_summary(event: CallbackEvent) -> str:
    """Return the parsed result fields that carry a value: SendStatus=5, CallStatus=ANSWERED..."""
    names = {
        "send_status": "SendStatus",
        "call_status": "CallStatus",
        "call_duration": "CallDuration",
        "ivr": "Ivr",
        "sent_result": "SentResult",
        "price": "Price",
    }
    parsed = event.parsed or {}
    return ", ".join(
        f"{label}={parsed[key]}"
        for key, label in names.items()
        if parsed.get(key) not in (None, "")
    )


def _status_change(event: CallbackEvent) -> str:
    if not event.old_status and not event.new_status:
        return "-"
    if event.old_status == event.new_status:
        return status_label(event.new_status)
    return f"{status_label(event.old_status)} → {status_label(event.new_status)}"


class CallbackEventInline(_EventInline):
    """The call's callbacks and polls, newest first, read-only."""

    model = CallbackEvent
    fk_name = "call"
    formset = NewestEventsFormSet
    fields = ("received_at", "source", "outcome", "status_change", "result", "error")
    readonly_fields = fields
    ordering = ("-received_at", "-id")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("callback events (newest first)")

    @admin.display(description=_("status"))
    def status_change(self, event: CallbackEvent) -> str:
        return _status_change(event)

    @admin.display(description=_("result"))
    def result(self, event: CallbackEvent) -> str:
        return _result_summary(event)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may see the call sees its events."""
        return can_see_calls(request.user)


# ----------------------------------------------------------------------------- calls


@admin.register(VoiceCall)
class VoiceCallAdmin(_CallAdmin):
    """Voice calls: the list, a read-only record per call, and the ways to place calls."""

    form = PlaceCallForm
    change_list_template = "esms_voice/admin/change_list.html"
    list_display = (
        "phone",
        "kind",
        "template_id",
        "status_badge",
        "ivr_pressed",
        "duration",
        "price",
        "created_at",
        "updated_at",
    )
    list_filter = (
        "status",
        "kind",
        ("created_at", admin.DateFieldListFilter),
        BatchFilter,
        NoResultAfterFilter,
    )
    # The search box: get_search_results() matches these exactly, through their indexes.
    search_fields = ("phone", "smsid", "uuid")
    search_help_text = _("An exact phone number, eSMS id (SMSID) or public id (uuid).")
    date_hierarchy = "created_at"
    # Ordering by a column without an index would sort the whole table.
    sortable_by = ("phone", "kind", "status_badge", "created_at")
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
        "call_status",
        "duration",
        "ivr_pressed",
        "price",
        "sent_result",
        "cid",
        "send_status",
        "created_at",
        "claimed_at",
        "next_attempt_at",
        "submitted_at",
        "last_polled_at",
        "completed_at",
        "updated_at",
        "created_by",
        # Shown, not stored.
        "linked_object",
        "retry_links",
        "timeline",
    )
    add_fieldsets = (
        (None, {"fields": ("phone", "kind", "template_id")}),
        (_("Text-to-speech script"), {"fields": ("variables", "voice", "speed")}),
        (_("Recording: press a key to talk to us"), {"fields": ("ivr_key", "number_forward")}),
        (_("Schedule"), {"fields": ("send_at",)}),
        (
            _("Advanced"),
            {
                "classes": ("collapse",),
                "fields": ("max_repeat", "max_retry", "time_wait_to_ivr", "wait_retry", "batch"),
            },
        ),
    )
    change_fieldsets = (
        (
            None,
            {
                "fields": (
                    "uuid",
                    "status_badge",
                    "phone",
                    "kind",
                    "template_id",
                    "variables",
                    "voice",
                    "speed",
                    "ivr_key",
                    "number_forward",
                    "send_at",
                    "batch",
                    "linked_object",
                    "created_by",
                    "retry_links",
                )
            },
        ),
        (
            _("eSMS result"),
            {
                "fields": (
                    "smsid",
                    "call_status",
                    "duration",
                    "ivr_pressed",
                    "price",
                    "sent_result",
                    "cid",
                    "send_status",
                )
            },
        ),
        (
            _("Delivery"),
            {
                "fields": (
                    "attempts",
                    "last_error_code",
                    "last_error_message",
                    "created_at",
                    "claimed_at",
                    "next_attempt_at",
                    "submitted_at",
                    "last_polled_at",
                    "completed_at",
                    "updated_at",
                )
            },
        ),
        (_("Timeline"), {"fields": ("timeline",)}),
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

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, call: VoiceCall) -> SafeString:
        return format_html(
            '<span class="esms-voice-status esms-voice-status-{}">{}</span>',
            call.status,
            call.get_status_display(),
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_call_many": self.has_add_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    # -- one call

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fieldsets if obj is None else self.change_fieldsets

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
        extra = {"title": gettext("Place a call"), **(extra_context or {})}
        return super().add_view(request, form_url, extra)

    def save_model(self, request: HttpRequest, obj: VoiceCall, form: Any, change: bool) -> None:
        """Create the call through services, so that it is placed once the row is committed."""
        names = [name for _, options in self.add_fieldsets for name in options["fields"]]
        call = services.create_call(
            created_by=request.user, **{name: getattr(obj, name) for name in names}
        )
        for field in VoiceCall._meta.concrete_fields:
            setattr(obj, field.attname, getattr(call, field.attname))
        obj._state.adding, obj._state.db = False, call._state.db

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
    def timeline(self, call: VoiceCall) -> str:
        """What happened to the call, in order: our steps and every callback and poll."""
        entries: list[tuple[dt.datetime, str, str]] = []

        def add(when: dt.datetime | None, what: str, detail: str = "") -> None:
            if when is not None:
                entries.append((when, what, detail))

        add(call.created_at, gettext("Created"), call.batch)
        add(
            call.claimed_at,
            gettext("Claimed by a worker"),
            gettext("attempt %(n)d") % {"n": call.attempts},
        )
        add(call.submitted_at, gettext("Accepted by eSMS"), call.smsid)
        events = list(call.events.order_by("-received_at", "-id")[:EVENTS_SHOWN])
        completed = call.completed_at
        for event in reversed(events):
            what = f"{event.get_source_display()}: {event.get_outcome_display()}"
            detail = "; ".join(filter(None, [_status_change(event), _result_summary(event)]))
            add(event.received_at, what, detail)
            if completed and event.new_status == call.status != event.old_status:
                # The event that ended the call is stored just after the call is updated.
                completed = max(completed, event.received_at)
        add(call.last_polled_at, gettext("Last status poll"))
        add(
            completed,
            gettext("Completed: %(status)s") % {"status": status_label(call.status)},
        )
        entries.sort(key=lambda entry: entry[0])
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((_when(when), what, detail) for when, what, detail in entries),
        )
        return format_html('<table class="esms-voice-timeline"><tbody>{}</tbody></table>', rows)

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
            *super().get_urls(),
        ]

    def call_many_view(self, request: HttpRequest) -> HttpResponse:
        """Call many numbers: paste or upload, preview, confirm."""
        return call_many_view(self, request)

    def call_objects_view(self, request: HttpRequest) -> HttpResponse:
        """Where call_action()'s form posts."""
        return call_objects_view(self, request)


# ----------------------------------------------------------------------------- events


@admin.register(CallbackEvent)
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
    )
    readonly_fields = fields

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
        """Events are evidence: only a superuser may delete them."""
        return request.user.is_superuser and super().has_delete_permission(request, obj)

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
        return _status_change(event)
