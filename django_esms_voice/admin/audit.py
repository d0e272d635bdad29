"""Every admin action that places, retries, cancels or refreshes calls leaves one LogEntry per call.

The entries make the calls' "History" and the admin's "Recent actions" say who spent money or
stopped a call, and when. The message is written in the language of the person who acted, as
the campaign buttons' entries are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.http import HttpRequest

from ..models import VoiceCall

#: The fields VoiceCall.__str__ reads (the entries' object_repr), so a large selection loads less.
_SHOWN = ("pk", "kind", "phone", "status")


def log_calls(
    request: HttpRequest, calls: Iterable[VoiceCall], message: str, *, added: bool = False
) -> None:
    """Write one LogEntry per call for what the request's user did to it (one INSERT)."""
    calls, user_id = list(calls), request.user.pk
    if calls and user_id is not None:  # the admin's actions run for a signed-in user
        flag = ADDITION if added else CHANGE
        LogEntry.objects.log_actions(user_id, calls, flag, change_message=message)


def log_call_ids(request: HttpRequest, ids: Sequence[int], message: str) -> None:
    """log_calls() for calls known by id (the rows are read for their names only)."""
    if ids:
        log_calls(request, VoiceCall.objects.filter(pk__in=ids).only(*_SHOWN), message)
