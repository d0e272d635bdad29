"""What an operator does to a call: retry one refused or failed (cancel: canceling.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import options, policies, secrecy
from ..exceptions import EsmsInputError
from ..models import Campaign, VoiceCall
from ..states import can_retry
from .campaigns import lock_for_new_calls
from .creating import BULK_CHUNK_SIZE, LINK_FIELDS, new_call, save_call
from .enqueueing import enqueue_calls


class AlreadyRetried(EsmsInputError):
    """The call was retried already: a call is retried once."""


def retried() -> Exists:
    """Select the calls that were retried already (a retry links back to its call)."""
    return Exists(VoiceCall.objects.filter(retry_of=OuterRef("pk")))


def retry_call(call: VoiceCall, *, created_by: Any = None, enqueue: bool = True) -> VoiceCall:
    """Place a refused or failed call again, once, as a new call linked to the old one.

    Raises AlreadyRetried if it was retried before, EsmsInputError if it may not be retried.
    """
    with transaction.atomic():
        # Locked, then checked (a query of its own, which sees a retry committed while it
        # waited): two operators retrying the same call make one new call.
        locked = VoiceCall.objects.select_for_update().get(pk=call.pk)
        already = VoiceCall.objects.filter(retry_of=locked).exists()
        return save_call(_retry_of(locked, already, created_by), enqueue=enqueue)


@dataclass
class Retries:
    """What retry_calls() did: the new calls, and each call it left alone with the reason."""

    created: list[VoiceCall] = field(default_factory=list)
    refused: list[tuple[VoiceCall, EsmsInputError]] = field(default_factory=list)


def retry_calls(
    calls: QuerySet[VoiceCall], *, created_by: Any = None, enqueue: bool = True
) -> Retries:
    """Retry many calls as retry_call() does, each once, in a few queries whatever their number."""
    report = Retries()
    with transaction.atomic():
        # In pk order, so that two operators lock their common calls in the same order.
        locked = list(calls.select_for_update().order_by("pk"))
        done = set(
            VoiceCall.objects.filter(retry_of__in=locked).values_list("retry_of_id", flat=True)
        )
        # A retry joins its call's campaign as create_call() does: held while it is paused.
        joined = _lock_campaigns({call.campaign_id for call in locked})
        retries, sources, now = [], [], timezone.now()
        for call in locked:
            try:
                retry = _retry_of(call, call.pk in done, created_by)
                state = joined.get(call.campaign_id or 0)
                if isinstance(state, EsmsInputError):
                    raise state
                policies.hold_new_call(retry, state, now)
                retries.append(retry)
                sources.append(call)
            except EsmsInputError as exc:
                report.refused.append((call, exc))
        suppressed = policies.refuse_suppressed(retries)
        report.refused += [(sources[index], error) for index, error in suppressed.items()]
        retries = [retry for index, retry in enumerate(retries) if index not in suppressed]
        report.created = VoiceCall.objects.bulk_create(retries, batch_size=BULK_CHUNK_SIZE)
        ids = [retry.pk for retry in report.created if not retry.hold]
        if enqueue and ids:
            transaction.on_commit(lambda: enqueue_calls(ids))
    return report


def _lock_campaigns(ids: set[int | None]) -> dict[int, str | EsmsInputError]:
    """Lock the campaigns retries join (reopened if completed); a canceled one's refusal."""
    joined: dict[int, str | EsmsInputError] = {}
    wanted = [pk for pk in ids if pk is not None]
    for campaign in Campaign.objects.filter(pk__in=wanted).order_by("pk"):
        try:
            joined[campaign.pk] = lock_for_new_calls(campaign).state
        except EsmsInputError as exc:
            joined[campaign.pk] = exc
    return joined


def _retry_of(locked: VoiceCall, retried: bool, created_by: Any) -> VoiceCall:
    """Return the unsaved retry of a locked call; raises AlreadyRetried or EsmsInputError."""
    if can_retry(locked.status, retried=retried):
        if locked.secret_variables and secrecy.is_wiped(locked.variables):
            raise EsmsInputError("variables", secrecy.GONE)
        values = {name: getattr(locked, name) for name in (*options.COPIED, *LINK_FIELDS)}
        by = created_by or locked.created_by
        return new_call({**values, "created_by": by, "retry_of": locked, "purpose": locked.purpose})
    if retried:
        raise AlreadyRetried("status", _("This call was retried already: a call is retried once."))
    raise EsmsInputError(
        "status",
        _("Only rejected calls and calls that failed to send can be retried, not %(status)s.")
        % {"status": locked.get_status_display()},
    )
