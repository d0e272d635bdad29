"""The sweep: re-enqueue forgotten calls, recover stuck ones, poll and end the silent ones."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .. import policies
from ..conf import voice_settings
from ..errors import NO_RESULT as NO_RESULT  # services exports it
from ..esms.redaction import redact_for_call
from ..exceptions import EsmsApiError, EsmsSettingsError, EsmsTransportError
from ..models import VoiceCall
from ..states import (
    AWAITING_RESULT,
    CLAIMABLE,
    CLAIMED,
    CallStatus,
    Hold,
    hold_for,
    result_due_since,
    sources_for,
)
from . import account, campaigns, idempotency
from .enqueueing import enqueue_calls
from .notify import send_status_changed
from .results import refresh_status

logger = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 500

#: A sweep's summary line, English; SweepReport's str() translates it.
SWEEP_SUMMARY = gettext_noop(
    "%(requeued)d pending re-enqueued, %(recovered)d stuck recovered, %(polled)d polled "
    "(%(poll_errors)d poll errors), %(expired)d ended without a result (charged, result "
    "unknown), %(completed)d campaigns completed"
)


@dataclass
class SweepReport:
    """What a sweep did."""

    requeued: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    polled: int = 0
    poll_errors: int = 0
    completed: int = 0
    #: The status polls sent, whatever eSMS answered (a result, 105, or an error).
    asked: int = 0

    def more_left(self, batch_size: int) -> bool:
        """Whether another pass may find more: something moved, or a kind filled its batch."""
        full = batch_size in (self.asked, len(self.expired))
        return bool(self.requeued or self.recovered or full)

    def _counts(self) -> dict[str, int]:
        """Return the numbers the summary line shows."""
        return {
            "completed": self.completed,
            "requeued": len(self.requeued),
            "recovered": len(self.recovered),
            "polled": self.polled,
            "poll_errors": self.poll_errors,
            "expired": len(self.expired),
        }

    def __str__(self) -> str:
        """Return the summary in the active language, for a person (esms_voice_sweep prints it)."""
        return _(SWEEP_SUMMARY) % self._counts()

    def in_english(self) -> str:
        """Return the summary in English whatever the active language, for the log."""
        return SWEEP_SUMMARY % self._counts()


def sweep(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> SweepReport:
    """Re-enqueue forgotten pending calls, recover stuck ones, and poll calls with no result."""
    conf = voice_settings()
    now = now or timezone.now()
    report = SweepReport()
    with transaction.atomic():
        # Not while the account is paused (the claim would refuse them), nor held ones.
        pending = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .filter(status__in=CLAIMABLE, hold=Hold.NONE)
            .filter(~policies.placement_paused())
            .filter(
                Q(next_attempt_at__lte=now - dt.timedelta(seconds=conf.pending_grace))
                | Q(next_attempt_at__isnull=True,
                    created_at__lte=now - dt.timedelta(seconds=conf.pending_grace))
            )
            .values_list("pk", flat=True)[:batch_size]
        )  # fmt: skip
        # Calls that waited for their calling window, now open: placed like any pending call.
        opened = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .filter(policies.window_opened(now))
            .values_list("pk", flat=True)[:batch_size]
        )
        VoiceCall.objects.filter(pk__in=opened).update(hold=Hold.NONE, updated_at=now)
        if opened and policies.open_pause() is None:  # else resume_placement enqueues them
            pending += opened
        # A worker that died mid-request leaves its call in submitting: eSMS may or may not
        # have it, and resending with the same RequestId is safe (124 if it does).
        stuck, held = _recover_stuck(now, conf.submit_lease, batch_size)
        # While the account is paused they wait, pending, for resume_placement to enqueue them.
        requeue = pending + ([] if policies.open_pause() else sorted(set(stuck) - set(held)))
        # Leave them alone for a grace period, so the next sweep does not enqueue them twice.
        VoiceCall.objects.filter(pk__in=requeue).update(next_attempt_at=now)
        poll_before = now - dt.timedelta(seconds=conf.poll_after)
        to_poll = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .annotate(since=result_due_since())
            .filter(status__in=AWAITING_RESULT, since__lte=poll_before)
            .exclude(smsid="")
            .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=poll_before))
            .order_by(F("last_polled_at").asc(nulls_first=True))[:batch_size]
        )
        VoiceCall.objects.filter(pk__in=[c.pk for c in to_poll]).update(last_polled_at=now)
        report.expired = _expire_silent_calls(
            now - dt.timedelta(seconds=conf.result_timeout),
            now,
            polling=to_poll,
            batch_size=batch_size,
        )
        transaction.on_commit(lambda: enqueue_calls(requeue))
    report.requeued, report.recovered = pending, stuck
    idempotency.purge_expired(now, batch_size=batch_size)
    report.completed = campaigns.complete_campaigns(now=now)
    account.probe_balance(now=now)  # at most one GetBalance per BALANCE_PROBE_INTERVAL
    report.asked = len(to_poll)
    for call in to_poll:  # network I/O after the commit, never under the row locks
        try:
            event = refresh_status(call)
        except (EsmsApiError, EsmsTransportError, EsmsSettingsError) as exc:
            report.poll_errors += 1
            error = redact_for_call(str(exc), call.uuid)
            logger.warning("Status poll of voice call %s failed: %s", call.pk, error)
            continue
        report.polled += event is not None
    return report


def _recover_stuck(now: dt.datetime, lease: float, batch_size: int) -> tuple[list[int], list[int]]:
    """Put calls whose worker died back to pending; return them, and those a pause holds.

    Their campaigns are locked as placing locks them (campaigns.lock_states), skipping one
    being paused: its calls wait for the next sweep rather than deadlock with the pause.
    """
    claimed = dict(
        VoiceCall.objects.select_for_update(skip_locked=True)
        .filter(status__in=CLAIMED, claimed_at__lte=now - dt.timedelta(seconds=lease))
        .values_list("pk", "campaign_id")[:batch_size]
    )
    states = campaigns.lock_states(claimed.values(), skip_locked=True)
    by_hold: dict[str, list[int]] = {}
    for pk, campaign_id in claimed.items():
        if campaign_id is None or campaign_id in states:
            # Attempted (attempts > 0), so never canceled by states.released: held or not.
            by_hold.setdefault(hold_for(states.get(campaign_id or 0)), []).append(pk)
    for hold, ids in by_hold.items():
        VoiceCall.objects.filter(pk__in=ids).update(
            status=CallStatus.PENDING, hold=hold, updated_at=now
        )
    recovered = sorted(pk for ids in by_hold.values() for pk in ids)
    return recovered, by_hold.get(Hold.CAMPAIGN_PAUSED, [])


def _expire_silent_calls(
    submitted_before: dt.datetime,
    now: dt.datetime,
    *,
    polling: Sequence[VoiceCall] = (),
    batch_size: int = SWEEP_BATCH_SIZE,
) -> list[int]:
    """Stop waiting for calls eSMS accepted but never reported on: "unknown", not "error".

    eSMS placed and charged them; only the result is missing. A call accepted through 124
    carries no SMSID and cannot be polled: without its callback it would stay accepted for
    ever. A late callback, or a poll, still completes an "unknown" call.
    """
    expired = list(
        VoiceCall.objects.select_for_update(skip_locked=True)
        .annotate(since=result_due_since())
        .filter(status__in=sources_for(CallStatus.UNKNOWN), since__lte=submitted_before)
        .exclude(pk__in=[call.pk for call in polling])[:batch_size]
    )
    message = _("eSMS accepted this call but sent no result for it within RESULT_TIMEOUT.")
    VoiceCall.objects.filter(pk__in=[call.pk for call in expired]).update(
        status=CallStatus.UNKNOWN,
        last_error_code=NO_RESULT,
        last_error_message=message,
        completed_at=now,
        updated_at=now,
    )
    for call in expired:
        old, call.status = call.status, CallStatus.UNKNOWN
        call.last_error_code, call.last_error_message, call.completed_at = NO_RESULT, message, now
        send_status_changed(call, old, CallStatus.UNKNOWN, None)
    return [call.pk for call in expired]
