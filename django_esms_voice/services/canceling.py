"""Cancel calls that were never sent: one, or many in one UPDATE."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import secrecy
from ..models import VoiceCall
from ..states import CallStatus, Hold, cancelable
from .notify import send_status_changed


def cancel_call(call: VoiceCall, *, code: str = "", message: str = "") -> bool:
    """Cancel a call that was never sent; False once an attempt went out (eSMS may have it).

    code and message: why, when a policy stopped it (a suppressed number, a frequency cap).
    """
    now = timezone.now()
    values: dict[str, Any] = {"status": CallStatus.CANCELED, "completed_at": now, "updated_at": now}
    if call.secret_variables:  # never sent, and never will be: the values go
        values["variables"] = secrecy.WIPED
    if code:
        values.update(hold=Hold.NONE, last_error_code=code, last_error_message=message)
    canceled = VoiceCall.objects.filter(cancelable(), pk=call.pk).update(**values)
    if canceled:
        old = call.status
        for name, value in values.items():
            setattr(call, name, value)  # receivers get the call as it now is
        send_status_changed(call, old, CallStatus.CANCELED, None)
    return bool(canceled)


def cancel_calls(calls: QuerySet[VoiceCall]) -> list[VoiceCall]:
    """Cancel those of the calls cancel_call() may, in one UPDATE; return the canceled ones."""
    now = timezone.now()
    with transaction.atomic():
        # Locked in pk order; PostgreSQL checks cancelable() again on each row it waited for.
        canceled = list(calls.filter(cancelable()).select_for_update().order_by("pk"))
        VoiceCall.objects.filter(pk__in=[call.pk for call in canceled]).update(
            status=CallStatus.CANCELED,
            completed_at=now,
            updated_at=now,
            variables=secrecy.wipe_expression(),
        )
        for call in canceled:
            old, call.status = call.status, CallStatus.CANCELED
            if call.secret_variables:
                call.variables = secrecy.WIPED
            send_status_changed(call, old, CallStatus.CANCELED, None)
    return canceled
