"""The call list's actions: place now, retry, cancel, refresh; money is spent only once confirmed.

Placing needs the ``esms_voice.place_voicecall`` permission; retrying (new calls) also needs
``esms_voice.add_voicecall``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..errors import REFUSED_AGAIN_ON_RETRY, explain
from ..models import VoiceCall
from ..states import CLAIMABLE, FINAL, REFRESHABLE, RETRYABLE, refreshable
from .audit import log_call_ids, log_calls
from .confirmation import confirmation_page, is_confirmed
from .permissions import can_create_calls, can_place_calls
from .summaries import (
    SHOWN_PER_GROUP,
    Group,
    count_in,
    queued_text,
    sentence,
    skipped_text,
    status_groups,
)

#: Calls one "refresh status" may hand to a worker, which asks eSMS about them one by one.
REFRESH_LIMIT = 100


@admin.action(
    description=_("Place the selected pending calls now"), permissions=["place_voicecall"]
)
def place_now(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> HttpResponse | None:
    """Send pending calls to the workers now (a call claimed twice is still placed once)."""
    if not can_place_calls(request.user):
        raise PermissionDenied
    pending = queryset.filter(status__in=CLAIMABLE)  # what a worker will claim
    skipped = status_groups(
        queryset.exclude(status__in=CLAIMABLE),
        _("not pending"),
        gettext("Status “%(status)s”: only pending calls are placed."),
    )
    if not is_confirmed(request):
        count = pending.count()
        return confirmation_page(
            modeladmin,
            request,
            action="place_now",
            title=_("Place calls now"),
            summary=ngettext(
                "%(count)d call will be placed now. eSMS charges for it.",
                "%(count)d calls will be placed now. eSMS charges for each of them.",
                count,
            )
            % {"count": count},
            count=count,
            eligible=list(pending[:SHOWN_PER_GROUP]),
            skipped=skipped,
            confirm_label=ngettext("Yes, place %(count)d call", "Yes, place %(count)d calls", count)
            % {"count": count},
        )
    ids = list(pending.values_list("pk", flat=True))
    sent = services.enqueue_calls(ids)
    log_call_ids(request, ids, gettext("Placed now from the call list."))
    modeladmin.message_user(
        request,
        sentence(queued_text(len(ids)), skipped_text(skipped)),
        messages.SUCCESS if ids else messages.WARNING,
    )
    if sent < len(ids):
        modeladmin.message_user(
            request,
            ngettext(
                "The queue did not answer for %(count)d call: the sweep will place it.",
                "The queue did not answer for %(count)d calls: the sweep will place them.",
                len(ids) - sent,
            )
            % {"count": len(ids) - sent},
            messages.WARNING,
        )
    return None


@admin.action(
    description=_("Retry the selected rejected or failed calls"),
    permissions=["esms_voice_call"],
)
def retry_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> HttpResponse | None:
    """Place refused or failed calls again, as new calls linked to the old ones."""
    if not can_create_calls(request.user):
        raise PermissionDenied
    skipped = status_groups(
        queryset.exclude(status__in=RETRYABLE),
        _("not rejected or failed"),
        gettext(
            "Status “%(status)s”: only rejected calls and calls that failed to send are retried."
        ),
    )
    retryable = queryset.filter(status__in=RETRYABLE)
    if not is_confirmed(request):
        eligible = retryable.filter(~services.retried())
        already = retryable.filter(services.retried())
        count, already_count = eligible.count(), already.count()
        if already_count:
            shown = list(already[:SHOWN_PER_GROUP])
            skipped.append(Group(_("already retried"), _("Already retried."), already_count, shown))
        return confirmation_page(
            modeladmin,
            request,
            action="retry_calls",
            title=_("Retry calls"),
            summary=ngettext(
                "%(count)d call will be placed again, as a new call. eSMS charges for it.",
                "%(count)d calls will be placed again, as new calls. eSMS charges for each.",
                count,
            )
            % {"count": count},
            count=count,
            eligible=list(eligible[:SHOWN_PER_GROUP]),
            skipped=skipped,
            confirm_label=ngettext("Yes, retry %(count)d call", "Yes, retry %(count)d calls", count)
            % {"count": count},
            reasons=refusal_reasons(eligible),
        )
    report = services.retry_calls(retryable, created_by=request.user)  # each once: it checks
    refused: dict[str, Group] = {}
    for call, error in report.refused:
        if isinstance(error, services.AlreadyRetried):
            count_in(refused, "retried", _("already retried"), _("Already retried."), call)
        else:
            count_in(refused, "invalid", _("invalid values"), str(error.message), call)
    message = gettext("Created from the call list as the retry of a rejected or failed call.")
    log_calls(request, report.created, message, added=True)
    created = len(report.created)
    modeladmin.message_user(
        request,
        sentence(queued_text(created), skipped_text([*skipped, *refused.values()])),
        messages.SUCCESS if created else messages.WARNING,
    )
    return None


@dataclass(frozen=True)
class Reason:
    """Why some of the calls to retry were refused or failed, and whether a retry can succeed."""

    code: str
    meaning: str
    advice: str
    count: int
    refused_again: bool


def refusal_reasons(calls: models.QuerySet[VoiceCall]) -> list[Reason]:
    """Group the calls by last error, explained, those a retry repeats first (one query)."""
    rows = calls.order_by().values_list("last_error_code").annotate(n=Count("pk"))
    reasons = []
    for code, count in rows:
        explained = explain(code)
        again = code in REFUSED_AGAIN_ON_RETRY
        reasons.append(Reason(code, str(explained.meaning), str(explained.advice), count, again))
    return sorted(reasons, key=lambda r: (not r.refused_again, -r.count, r.code))


@admin.action(description=_("Cancel the selected pending calls"), permissions=["change"])
def cancel_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> None:
    """Cancel calls not sent yet; a call already on its way to eSMS cannot be called back."""
    canceled_calls = services.cancel_calls(queryset)
    log_calls(request, canceled_calls, gettext("Canceled from the call list."))
    canceled = len(canceled_calls)
    skipped = queryset.count() - canceled
    parts = [
        ngettext("%(count)d call canceled", "%(count)d calls canceled", canceled)
        % {"count": canceled}
    ]
    if skipped:
        parts.append(
            ngettext(
                "%(count)d skipped: already sent to eSMS or finished",
                "%(count)d skipped: already sent to eSMS or finished",
                skipped,
            )
            % {"count": skipped}
        )
    message = sentence(*parts)
    modeladmin.message_user(request, message, messages.SUCCESS if canceled else messages.WARNING)


@admin.action(
    description=_("Refresh the status of the selected calls from eSMS"), permissions=["change"]
)
def refresh_calls(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    queryset: models.QuerySet[VoiceCall],
) -> None:
    """Have a worker ask eSMS (GetSendStatus, free) about calls awaiting a result; no wait here."""
    ids = list(queryset.filter(refreshable()).values_list("pk", flat=True)[: REFRESH_LIMIT + 1])
    if len(ids) > REFRESH_LIMIT:
        modeladmin.message_user(
            request,
            gettext(
                "Refresh at most %(max)d calls at a time: a worker asks eSMS about them one "
                "after another."
            )
            % {"max": REFRESH_LIMIT},
            messages.ERROR,
        )
        return
    if not services.enqueue_refresh(ids):
        modeladmin.message_user(
            request,
            gettext("The queue did not answer: nothing was asked of eSMS. Try again in a moment."),
            messages.ERROR,
        )
        return
    log_call_ids(request, ids, gettext("Status asked of eSMS from the call list."))
    count = len(ids)
    asked = ngettext(
        "%(count)d call will be asked of eSMS by a worker: its status changes here within a minute",
        "%(count)d calls will be asked of eSMS by a worker: their statuses change here within "
        "a minute",
        count,
    ) % {"count": count}
    modeladmin.message_user(
        request,
        sentence(asked, skipped_text(refresh_skipped(queryset))),
        messages.SUCCESS if count else messages.WARNING,
    )


def refresh_skipped(queryset: models.QuerySet[VoiceCall]) -> list[Group]:
    """Count the calls a refresh leaves alone, by why (one query)."""
    counts = queryset.exclude(refreshable()).aggregate(
        unsent=Count("pk", filter=~Q(status__in=FINAL | REFRESHABLE)),
        final=Count("pk", filter=Q(status__in=FINAL - REFRESHABLE)),
        no_smsid=Count("pk", filter=Q(status__in=REFRESHABLE)),  # accepted through 124
    )
    return [
        Group(_("not sent to eSMS yet"), "", counts["unsent"]),
        Group(_("result already final"), "", counts["final"]),
        Group(_("no SMSID from eSMS yet"), "", counts["no_smsid"]),
    ]
