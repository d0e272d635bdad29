"""Cancel calls that were never sent: one, or many in one UPDATE."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from .. import secrecy
from ..models import VoiceCall
from ..states import CLAIMABLE, CallStatus, Hold, cancelable, sources_for
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


def stop_call(call: VoiceCall, *, code: str, message: str) -> bool:
    """Stop a pending call a policy refuses at claim, for good; False if it moved meanwhile.

    Never attempted, it is canceled. Attempted already (an answer lost to a timeout), eSMS
    may have it: it is not sent again but given up as an error, so that the sweep stops
    re-enqueuing it and eSMS's own word, if a callback comes, still wins (states.decide).
    """
    if cancel_call(call, code=code, message=message):
        return True
    now = timezone.now()
    given_up = gettext("Not sent again; eSMS may have placed an earlier attempt.")
    values: dict[str, Any] = {
        "status": CallStatus.ERROR,
        "hold": Hold.NONE,
        "last_error_code": code,
        "last_error_message": f"{message} {given_up}",
        "completed_at": now,
        "updated_at": now,
    }
    if call.secret_variables:
        values["variables"] = secrecy.WIPED
    stoppable = CLAIMABLE & sources_for(CallStatus.ERROR)
    moved = VoiceCall.objects.filter(pk=call.pk, status__in=stoppable, attempts__gt=0)
    if not moved.update(**values):
        return False
    old = call.status
    for name, value in values.items():
        setattr(call, name, value)  # receivers get the call as it now is
    send_status_changed(call, old, CallStatus.ERROR, None)
    return True


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
