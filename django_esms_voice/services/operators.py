"""What an operator does to a call: cancel one never sent, retry one refused or failed."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import options
from ..exceptions import EsmsInputError
from ..models import VoiceCall
from ..states import CallStatus, can_retry, cancelable
from .creating import LINK_FIELDS, new_call, save_call
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
        if can_retry(locked.status, retried=already):
            values = {name: getattr(locked, name) for name in (*options.COPIED, *LINK_FIELDS)}
            by = created_by or locked.created_by
            retry = new_call({**values, "created_by": by, "retry_of": locked})
            return save_call(retry, enqueue=enqueue)
    if already:
        raise AlreadyRetried("status", _("This call was retried already: a call is retried once."))
    raise EsmsInputError(
        "status",
        _("Only rejected calls and calls that failed to send can be retried, not %(status)s.")
        % {"status": locked.get_status_display()},
    )
