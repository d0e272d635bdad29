"""Refresh calls' statuses from eSMS off the admin request: one task asks about each call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from celery import current_app

from ..esms.redaction import redact_for_call
from ..exceptions import EsmsApiError, EsmsSettingsError, EsmsTransportError
from ..models import VoiceCall
from ..states import refreshable
from .results import refresh_status

logger = logging.getLogger(__name__)

#: The registered name of the refresh task (tasks.py).
REFRESH_TASK = "django_esms_voice.refresh_statuses"


@dataclass
class RefreshReport:
    """What one refresh run found: calls asked, their statuses changed, eSMS's failures."""

    asked: int = 0
    changed: int = 0
    failed: int = 0


def enqueue_refresh(call_ids: Sequence[int]) -> bool:
    """Hand the calls' status polls to a worker; False when the broker did not take them.

    The worker asks only about the calls still refreshable when it runs: refresh_statuses().
    """
    if not call_ids:
        return True
    try:
        current_app.tasks[REFRESH_TASK].apply_async(
            (list(call_ids),),
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        )
    except Exception as exc:  # the broker is unreachable; nothing was asked, nothing is lost
        logger.warning("Could not enqueue a status refresh of %d calls: %r", len(call_ids), exc)
        return False
    return True


def refresh_statuses(call_ids: Sequence[int]) -> RefreshReport:
    """Ask eSMS (GetSendStatus, free) about each call awaiting a result; a failure skips one.

    A call with a final result (one may have come since it was selected) or without an SMSID
    is not asked about: states.refreshable().
    """
    report = RefreshReport()
    for call in VoiceCall.objects.filter(refreshable(), pk__in=call_ids).order_by("pk"):
        try:
            event = refresh_status(call)
        except (EsmsApiError, EsmsTransportError, EsmsSettingsError) as exc:
            report.failed += 1
            reason = redact_for_call(str(exc), call.uuid, phone=call.phone)
            logger.warning("Status refresh of call %s failed: %s", call.pk, reason)
            continue
        report.asked += 1
        report.changed += event is not None and event.old_status != event.new_status
    return report
