"""Tell the host's receivers about a call's status change, once it is committed."""

from __future__ import annotations

from django.db import transaction

from ..models import CallbackEvent, VoiceCall
from ..signals import call_status_changed


def send_status_changed(call: VoiceCall, old: str, new: str, event: CallbackEvent | None) -> None:
    """Send call_status_changed once the change is committed."""
    transaction.on_commit(
        lambda: call_status_changed.send(sender=VoiceCall, call=call, old=old, new=new, event=event)
    )
