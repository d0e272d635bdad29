"""Place a call exactly once: claim it, send it with its RequestId, store eSMS's answer."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    connections,
    router,
    transaction,
)
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import policies, secrecy
from ..backends import get_backend
from ..conf import voice_settings
from ..errors import error_code, short_message
from ..esms.payloads import CallSubmission
from ..esms.redaction import redact_for_call
from ..exceptions import (
    EsmsApiError,
    EsmsInputError,
    EsmsSettingsError,
    EsmsTransportError,
    EsmsVoiceError,
)
from ..models import VoiceCall
from ..signing import callback_url
from ..states import CLAIMED, FINAL, CallStatus, released, sources_for
from . import account, campaigns, claiming, ratelimit
from .call_updates import update_call
from .canceling import stop_call
from .enqueueing import enqueue_calls, enqueue_retry, is_urgent, requeue_batch
from .notify import send_status_changed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlaceResult:
    """What one placement attempt did; `retry_in` asks the task to try again later."""

    status: str | None
    retry_in: float | None = None

    @property
    def skipped(self) -> bool:
        """Whether another worker had the call, or it was already past pending."""
        return self.status is None


def _release_connection() -> None:
    """Give the DB connection back (to the pool) so that no connection waits on eSMS."""
    if not connection.in_atomic_block:
        connection.close()


def _finish(call: VoiceCall, new: str, *, code: str = "", message: str = "", **extra: Any) -> bool:
    """Move a claimed call out of submitting, unless something else moved it meanwhile."""
    now = timezone.now()
    values: dict[str, Any] = {
        "status": new,
        "last_error_code": code[:32],
        "last_error_message": short_message(redact_for_call(message, call.uuid)),
        **extra,
    }
    if new in FINAL:
        values["completed_at"] = now
        if call.secret_variables:  # refused or failed: it is never sent as it is again
            values["variables"] = secrecy.WIPED
    moved = update_call(call.pk, {**values, "updated_at": now}, CLAIMED)
    if moved:
        for name, value in {**values, "updated_at": now}.items():
            setattr(call, name, value)  # receivers get the call as it now is
        if new != CallStatus.PENDING:
            send_status_changed(call, CallStatus.SUBMITTING, new, None)
    return bool(moved)


def _accept(call: VoiceCall, submission: CallSubmission) -> None:
    """Record that eSMS has the call (100, or 124 for a resend of one it already had).

    The answer exists only in this process until it is stored, and a resend would get 124,
    which carries no SMSID: so the first statement stores it, nothing runs before it, and a
    lost database connection is retried (_store_answer).
    """
    now = timezone.now()
    values: dict[str, Any] = {
        "status": CallStatus.ACCEPTED,
        "submitted_at": now,
        "completed_at": None,
        "last_error_code": "",
        "last_error_message": "",
        "updated_at": now,
    }
    if submission.smsid:  # 124 carries no SMSID: the callback's ReferenceId is adopted later
        values["smsid"] = submission.smsid
    if call.secret_variables:  # eSMS has them: the row keeps only the marker
        values["variables"] = secrecy.WIPED
    sources = sources_for(CallStatus.ACCEPTED)
    moved = _store_answer(call, submission, lambda: update_call(call.pk, values, sources))
    if moved:
        old = call.status
        for name, value in values.items():
            setattr(call, name, value)  # receivers get the call as it now is
        send_status_changed(call, old, CallStatus.ACCEPTED, None)
        return
    # A callback got there first and moved the call on: keep the SMSID and the time eSMS
    # took the call all the same (the sweep polls and expires by that time), in one statement.
    kept: dict[str, Any] = {"submitted_at": Coalesce("submitted_at", Value(now)), "updated_at": now}
    if call.secret_variables:
        kept["variables"] = secrecy.WIPED
    if submission.smsid:
        kept["smsid"] = Case(When(smsid="", then=Value(submission.smsid)), default=F("smsid"))
    calls = VoiceCall.objects.filter(pk=call.pk)
    _store_answer(call, submission, lambda: calls.update(**kept))


#: Waits before retrying to store eSMS's answer when the database connection was lost.
STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


def _store_answer(call: VoiceCall, submission: CallSubmission, update: Callable[[], int]) -> int:
    """Run the UPDATE that stores eSMS's answer, reconnecting if the connection was lost."""
    delays = iter(STORE_RETRY_DELAYS)
    while True:
        try:
            return update()
        except (OperationalError, InterfaceError) as exc:
            delay = next(delays, None)
            conn = connections[router.db_for_write(VoiceCall)]
            if delay is None or conn.in_atomic_block:
                # The call stays submitting: the sweep resends it and gets 124, no SMSID.
                logger.error(
                    "eSMS accepted voice call %s (SMSID %s) but storing it failed: %s",
                    call.pk,
                    submission.smsid or "-",
                    type(exc).__name__,
                )
                raise
            conn.close()  # a broken connection is not reused: the next query reconnects
            time.sleep(delay)


def _send(call: VoiceCall) -> CallSubmission:
    """Send the call to eSMS with its RequestId (the call's uuid, the same on every attempt)."""
    # Through the configured backend: HTTP to eSMS, or the in-memory one in tests.
    return get_backend().make_call(call.build_request(callback_url(call.uuid)))


def _release(call: VoiceCall, *, code: str, message: str, **extra: Any) -> str | None:
    """Give a claimed call back for a later attempt: pending, held or canceled by its campaign.

    Its campaign is locked meanwhile, so a pause or cancel committed while the call was in
    flight holds or cancels it now (states.released). Returns the new status, None if moved.
    """
    with transaction.atomic():
        state = campaigns.lock_states([call.campaign_id]).get(call.campaign_id or 0)
        new, hold = released(state, extra.get("attempts", call.attempts))
        return new if _finish(call, new, code=code, message=message, hold=hold, **extra) else None


def _hold_for_account(call: VoiceCall, refusal: EsmsApiError) -> PlaceResult:
    """Put back a call eSMS refused for a reason of the account, and pause placement.

    The refusal says nothing about the call: it goes back to pending as if never attempted
    (eSMS did not take it), and waits for placement to resume (services.account). A refusal
    of a request sent before placement last resumed is stale: it opens no second pause, and
    the call, which the resume did not find pending, is enqueued again.
    """
    with transaction.atomic():
        stale = policies.resumed_since(call.claimed_at)
        if not stale:
            account.pause_placement(refusal.code, str(refusal), call)
        new = _release(
            call,
            code=refusal.code,
            message=str(refusal),
            attempts=call.attempts - 1,
            next_attempt_at=None,
        )
        if stale and new == CallStatus.PENDING and not call.hold:
            transaction.on_commit(lambda: enqueue_calls([call.pk], urgent=is_urgent(call.purpose)))
    return PlaceResult(new)


def retry_delay(attempt: int) -> float:
    """Return the wait before attempt+1: exponential backoff with full jitter, at least 1 s."""
    conf = voice_settings()
    # Not Celery's get_exponential_backoff_interval: it calls randrange() on these float
    # settings, which Python 3.12 refuses with a TypeError.
    ceiling = min(conf.retry_backoff_max, conf.retry_backoff * 2 ** min(max(attempt - 1, 0), 32))
    return max(random.uniform(0, ceiling), 1.0)  # noqa: S311 - jitter, not a secret


def place_call(call_id: int) -> PlaceResult:
    """Claim a pending call, send it once, record the answer; the DB is not held during HTTP."""
    conf = voice_settings()
    slot = ratelimit.take(conf.rate_limit)
    try:
        call = claiming.claim(call_id)
    finally:
        _release_connection()
    if call is None:  # no request is sent: the slot goes to the next call (a paused account)
        ratelimit.give_back(slot)
        # A number suppressed since the call was made: stopped, never sent. A call whose
        # window closed while it was queued waits, held, for the next opening.
        refused = policies.suppressed_refusal(call_id)
        stopped = refused is not None and stop_call(
            refused[0], code=refused[1].code, message=str(refused[1].message)
        )
        if not stopped:
            policies.hold_outside_window(call_id, timezone.now())
        return PlaceResult(None)
    try:
        return _place_claimed(call, conf.max_attempts)
    finally:
        _release_connection()


def place_calls(call_ids: Sequence[int]) -> int:
    """Place a batch's calls one after another; return how many eSMS accepted.

    A call that must be tried again later goes to a place task of its own. A call whose
    placement fails unexpectedly (the database gone) is logged and left for the sweep, and
    the next call is tried: one call's failure does not strand the others. When the task's
    soft time limit comes, the calls not placed yet go to a new batch, and the task stops.
    """
    accepted = 0
    for index, call_id in enumerate(call_ids):
        try:
            result = place_call(call_id)
        except SoftTimeLimitExceeded:
            # This call too: claimed already, the new batch skips it (the sweep resends it).
            requeue_batch(call_ids[index:])
            raise
        except Exception as exc:  # the call stays as it was; the sweep finds it
            _release_connection()  # a broken connection is not used for the next call
            logger.error(
                "Voice call %s of a batch could not be placed (%s); the sweep will retry it.",
                call_id,
                type(exc).__name__,
            )
            continue
        if result.retry_in is not None:
            enqueue_retry(call_id, result.retry_in)
        accepted += result.status == CallStatus.ACCEPTED
    return accepted


def _place_claimed(call: VoiceCall, max_attempts: int) -> PlaceResult:
    """Send a claimed call and move it to its next status."""
    failure: EsmsVoiceError
    try:
        submission = _send(call)
    except EsmsApiError as exc:
        if account.is_account_code(exc.code):
            return _hold_for_account(call, exc)
        # eSMS answered: a refusal is final, never retried with the same request.
        _finish(call, CallStatus.REJECTED, code=exc.code, message=str(exc))
        return PlaceResult(CallStatus.REJECTED)
    except EsmsInputError as exc:
        _finish(call, CallStatus.ERROR, code=error_code(exc), message=str(exc))
        return PlaceResult(CallStatus.ERROR)
    except (EsmsTransportError, EsmsSettingsError) as exc:
        failure = exc
    else:
        _accept(call, submission)
        return PlaceResult(CallStatus.ACCEPTED)

    code = error_code(failure)
    if failure.retryable or isinstance(failure, EsmsSettingsError):
        if call.attempts < max_attempts:
            delay = retry_delay(call.attempts)
            next_at = timezone.now() + dt.timedelta(seconds=delay)
            new = _release(call, code=code, message=str(failure), next_attempt_at=next_at)
            if new == CallStatus.PENDING:
                _log_failure(call, failure, f"retrying in {delay:.0f} s")
                return PlaceResult(new, retry_in=delay)
            _log_failure(call, failure, f"not retried now: the call is {new or 'moved'}")
            return PlaceResult(new)
        message = f"gave up after {call.attempts} attempt(s): {failure}"
        outcome = f"giving up, MAX_ATTEMPTS is {max_attempts}"
    else:
        message = str(failure)
        outcome = "not retried: resending the same request cannot help"
    _finish(call, CallStatus.ERROR, code=code, message=message)
    _log_failure(call, failure, outcome)
    return PlaceResult(CallStatus.ERROR)


def _log_failure(call: VoiceCall, failure: EsmsVoiceError, outcome: str) -> None:
    """Log a failed attempt once, at WARNING, in English: the call, the attempt, the reason."""
    # The client logs these at DEBUG only: here the call and its attempt are known.
    reason = redact_for_call(str(failure), call.uuid, phone=call.phone)
    logger.warning(
        "Voice call %s (uuid %s) attempt %d failed: %s; %s",
        call.pk,
        call.uuid,
        call.attempts,
        reason,
        outcome,
    )
