"""What an operator does to a call: cancel one never sent, retry one refused or failed."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from .. import options
from ..exceptions import EsmsInputError
from ..models import VoiceCall
from ..states import RETRYABLE, CallStatus
from .creating import LINK_FIELDS, new_call, save_call
from .notify import send_status_changed


def cancel_call(call: VoiceCall) -> bool:
    """Cancel a call that was never sent; False once an attempt went out (eSMS may have it)."""
    now = timezone.now()
    # A pending call with attempts went back to pending after a timeout: eSMS may already
    # have it and ring, so canceling it here would hide the result it reports.
    canceled = VoiceCall.objects.filter(pk=call.pk, status=CallStatus.PENDING, attempts=0).update(
        status=CallStatus.CANCELED, completed_at=now, updated_at=now
    )
    if canceled:
        old, call.status = call.status, CallStatus.CANCELED
        send_status_changed(call, old, CallStatus.CANCELED, None)
    return bool(canceled)


def retry_call(call: VoiceCall, *, created_by: Any = None, enqueue: bool = True) -> VoiceCall:
    """Place a refused or failed call again as a new call linked to the old one."""
    if call.status not in RETRYABLE:
        raise EsmsInputError(
            "status",
            _("Only rejected calls and calls that failed to send can be retried, not %(status)s.")
            % {"status": call.get_status_display()},
        )
    values = {name: getattr(call, name) for name in (*options.COPIED, *LINK_FIELDS)}
    retry = new_call({**values, "created_by": created_by or call.created_by, "retry_of": call})
    return save_call(retry, enqueue=enqueue)
