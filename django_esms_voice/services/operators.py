"""What an operator does to a call: cancel one never sent, retry one refused or failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import options
from ..exceptions import EsmsInputError
from ..models import VoiceCall
from ..states import CallStatus, can_retry, cancelable
from .creating import BULK_CHUNK_SIZE, LINK_FIELDS, new_call, save_call
from .enqueueing import enqueue_calls
from .notify import send_status_changed


def cancel_call(call: VoiceCall) -> bool:
    """Cancel a call that was never sent; False once an attempt went out (eSMS may have it)."""
    now = timezone.now()
    canceled = VoiceCall.objects.filter(cancelable(), pk=call.pk).update(
        status=CallStatus.CANCELED, completed_at=now, updated_at=now
    )
    if canceled:
        old, call.status = call.status, CallStatus.CANCELED
        send_status_changed(call, old, CallStatus.CANCELED, None)
    return bool(canceled)


def cancel_calls(calls: QuerySet[VoiceCall]) -> list[VoiceCall]:
    """Cancel those of the calls cancel_call() may, in one UPDATE; return the canceled ones."""
    now = timezone.now()
    with transaction.atomic():
        # Locked in pk order; PostgreSQL checks cancelable() again on each row it waited for.
        canceled = list(calls.filter(cancelable()).select_for_update().order_by("pk"))
        VoiceCall.objects.filter(pk__in=[call.pk for call in canceled]).update(
            status=CallStatus.CANCELED, completed_at=now, updated_at=now
        )
        for call in canceled:
            old, call.status = call.status, CallStatus.CANCELED
            send_status_changed(call, old, CallStatus.CANCELED, None)
    return canceled


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
        retries = []
        for call in locked:
            try:
                retries.append(_retry_of(call, call.pk in done, created_by))
            except EsmsInputError as exc:
                report.refused.append((call, exc))
        report.created = VoiceCall.objects.bulk_create(retries, batch_size=BULK_CHUNK_SIZE)
        if enqueue and report.created:
            ids = [retry.pk for retry in report.created]
            transaction.on_commit(lambda: enqueue_calls(ids))
    return report


def _retry_of(locked: VoiceCall, retried: bool, created_by: Any) -> VoiceCall:
    """Return the unsaved retry of a locked call; raises AlreadyRetried or EsmsInputError."""
    if can_retry(locked.status, retried=retried):
        values = {name: getattr(locked, name) for name in (*options.COPIED, *LINK_FIELDS)}
        by = created_by or locked.created_by
        return new_call({**values, "created_by": by, "retry_of": locked})
    if retried:
        raise AlreadyRetried("status", _("This call was retried already: a call is retried once."))
    raise EsmsInputError(
        "status",
        _("Only rejected calls and calls that failed to send can be retried, not %(status)s.")
        % {"status": locked.get_status_display()},
    )
