"""Pause placement for the whole eSMS account, resume it, and probe the balance while paused.

eSMS codes 101, 102, 103 and 140 concern the account, not the call: every following call
would meet them too. The first one pauses placement (one open AccountPause); the claim of
every call checks for it (policies.claimable), so no worker sends another request.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from ..backends import get_backend
from ..conf import voice_settings
from ..errors import ACCOUNT_ADVICE
from ..esms.protocol import ACCOUNT_CODES, LOW_BALANCE, describe_code
from ..esms.redaction import redact, redact_for_call
from ..exceptions import EsmsApiError, EsmsSettingsError, EsmsTransportError
from ..models import AccountPause, ResumedBy, VoiceCall
from ..signals import placement_paused, placement_resumed
from ..states import CLAIMABLE, Hold
from .enqueueing import enqueue_calls

logger = logging.getLogger(__name__)

#: What an operator should do about each account code (its home is errors.py).
ADVICE = ACCOUNT_ADVICE


def is_account_code(code: str) -> bool:
    """Whether an eSMS refusal concerns the account rather than the call."""
    return code in ACCOUNT_CODES


def pause_placement(code: str, message: str, call: VoiceCall | None = None) -> AccountPause | None:
    """Pause placement for the account; return the new pause, or None if already paused.

    The first pause sends placement_paused and mails the admins once, after it commits.
    """
    try:
        with transaction.atomic():
            pause = AccountPause.objects.create(
                code=code, message=redact_for_call(message, call.uuid if call else None), call=call
            )
    except IntegrityError:  # another worker paused it first: one pause, one mail
        return None
    logger.error("eSMS refused a call with %s: placement paused for the whole account.", code)
    transaction.on_commit(lambda: _announce_pause(pause))
    return pause


def _announce_pause(pause: AccountPause) -> None:
    """Send placement_paused and mail the admins, once per pause."""
    placement_paused.send(sender=AccountPause, pause=pause)
    meaning = describe_code(pause.code).description
    values = {"code": pause.code, "meaning": meaning, "message": pause.message}
    mail_admins(
        gettext("eSMS voice calls paused: %(code)s %(meaning)s") % values,
        gettext(
            "eSMS refused a call with code %(code)s (%(meaning)s): %(message)s\n\n"
            "No call is sent until placement resumes."
        )
        % values
        + f"\n{ADVICE.get(pause.code, '')}",
        fail_silently=True,
    )


def resume_placement(
    *, by: str = ResumedBy.OPERATOR, user: Any = None, now: dt.datetime | None = None
) -> AccountPause | None:
    """End the account pause and re-enqueue the calls it held; None if it was not paused."""
    now = now or timezone.now()
    with transaction.atomic():
        pause = AccountPause.objects.select_for_update().filter(active=True).first()
        if pause is None:
            return None
        pause.active, pause.ended_at, pause.ended_by = None, now, by
        pause.ended_by_user = user if getattr(user, "pk", None) else None
        pause.save(update_fields=["active", "ended_at", "ended_by", "ended_by_user"])
        waiting = list(
            VoiceCall.objects.filter(status__in=CLAIMABLE, hold=Hold.NONE)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: _announce_resume(pause, waiting))
    logger.info("eSMS voice placement resumed (%s); %d call(s) re-enqueued.", by, len(waiting))
    return pause


def _announce_resume(pause: AccountPause, waiting: list[int]) -> None:
    """Send placement_resumed and hand the waiting calls to the workers."""
    placement_resumed.send(sender=AccountPause, pause=pause)
    enqueue_calls(waiting)


def probe_balance(*, now: dt.datetime | None = None) -> AccountPause | None:
    """While paused for a low balance, ask GetBalance at most once per BALANCE_PROBE_INTERVAL.

    Resumes placement when the balance is back at RESUME_BALANCE or more. Returns the pause
    it probed, or None when no probe was due.
    """
    conf = voice_settings()
    now = now or timezone.now()
    due = now - dt.timedelta(seconds=conf.balance_probe_interval)
    # The probe slot is taken by a conditional UPDATE: two sweeps at once make one request.
    taken = AccountPause.objects.filter(active=True, code=LOW_BALANCE).filter(
        Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=due)
    )
    if not taken.update(last_probe_at=now):
        return None
    pause = AccountPause.objects.filter(active=True).first()
    if pause is None:
        return None
    try:
        balance = get_backend().get_balance().balance
    except (EsmsApiError, EsmsTransportError, EsmsSettingsError) as exc:
        error = redact(str(exc))
        AccountPause.objects.filter(pk=pause.pk).update(last_probe_error=error)
        logger.warning("eSMS balance check while paused failed: %s", error)
        return pause
    AccountPause.objects.filter(pk=pause.pk).update(last_balance=balance, last_probe_error="")
    pause.last_balance = balance
    if balance >= conf.resume_balance:
        resume_placement(by=ResumedBy.BALANCE_PROBE, now=now)
    return pause
