"""The domain operations: create, place, apply a result, cancel, retry and sweep calls."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    router,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, F, Field, Model, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from . import fastpath, idempotency, options, ratelimit
from .backends import get_backend
from .conf import voice_settings
from .esms.payloads import CallResult, CallSubmission, normalize_smsid
from .esms.redaction import redact_for_call
from .exceptions import (
    EsmsApiError,
    EsmsInputError,
    EsmsNotFoundYet,
    EsmsSettingsError,
    EsmsTransportError,
    EsmsVoiceError,
)
from .models import CallbackEvent, CallKind, EventOutcome, EventSource, VoiceCall
from .signals import call_status_changed, callback_received
from .signing import callback_url
from .states import (
    AWAITING_RESULT,
    FINAL,
    RETRYABLE,
    CallStatus,
    Verdict,
    decide,
    merge,
    sources_for,
    status_for_result,
    status_label,
)

logger = logging.getLogger(__name__)

BULK_CHUNK_SIZE = 500
FAN_OUT_ABOVE = 100  # calls enqueued from the caller's process; more go through a worker
FAN_OUT_CHUNK = 1000
SWEEP_BATCH_SIZE = 500
#: The reason a call is "unknown": eSMS accepted it and sent no result within RESULT_TIMEOUT.
NO_RESULT = "no_result"
MAX_RAW_LENGTH = 20_000
#: How many fingerprints of applied results a call keeps, to recognise a repeated delivery.
FINGERPRINTS_KEPT = 20
#: What a retry copies besides the call's options: the object the call is about.
LINK_FIELDS = ("content_type", "object_id")


class BulkCallError(EsmsInputError):
    """Some rows of a bulk call are invalid; nothing was created. `errors` maps row → error."""

    def __init__(self, errors: dict[int, EsmsInputError]) -> None:
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__("rows", f"{len(errors)} invalid row(s); row {first[0]}: {first[1]}")


@dataclass(frozen=True)
class PlaceResult:
    """What one placement attempt did; `retry_in` asks the task to try again later."""

    status: str | None
    retry_in: float | None = None

    @property
    def skipped(self) -> bool:
        """Whether another worker had the call, or it was already past pending."""
        return self.status is None


@dataclass
class SweepReport:
    """What a sweep did."""

    requeued: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    polled: int = 0
    poll_errors: int = 0

    def __str__(self) -> str:
        return _(
            "%(requeued)d pending re-enqueued, %(recovered)d stuck recovered, %(polled)d polled "
            "(%(poll_errors)d poll errors), %(expired)d ended without a result (charged, result "
            "unknown)"
        ) % {
            "requeued": len(self.requeued),
            "recovered": len(self.recovered),
            "polled": self.polled,
            "poll_errors": self.poll_errors,
            "expired": len(self.expired),
        }


def _release_connection() -> None:
    """Give the DB connection back (to the pool) so that no connection waits on eSMS."""
    if not connection.in_atomic_block:
        connection.close()


def _send_status_changed(call: VoiceCall, old: str, new: str, event: CallbackEvent | None) -> None:
    """Send call_status_changed once the change is committed."""
    transaction.on_commit(
        lambda: call_status_changed.send(sender=VoiceCall, call=call, old=old, new=new, event=event)
    )


# ----------------------------------------------------------------------------- creating


def _new_call(
    *,
    phone: str,
    template_id: str,
    kind: str = CallKind.RECORD,
    content_object: Model | None = None,
    created_by: Any = None,
    **fields: Any,
) -> VoiceCall:
    """Build an unsaved call and validate it the way eSMS will."""
    unknown = set(fields) - {*options.NAMES, *LINK_FIELDS, "retry_of"}
    if unknown:
        raise TypeError(f"unexpected field for a voice call: {sorted(unknown)[0]!r}")
    call = VoiceCall(phone=phone, template_id=template_id, kind=kind, created_by=created_by)
    for name, value in fields.items():
        setattr(call, name, value)
    if content_object is not None:
        call.content_type = ContentType.objects.get_for_model(content_object)
        call.object_id = str(content_object.pk)
    call.validate_for_esms()
    return call


def enqueue_calls(call_ids: Sequence[int], *, fan_out: bool = True) -> int:
    """Send a place task per call; if the broker is down the sweep enqueues them later.

    A large batch is handed to a worker in chunks (one message per FAN_OUT_CHUNK ids), so
    that the request that created it does not wait for thousands of publishes.
    """
    from .tasks import enqueue_calls_task, place_call_task

    if fan_out and len(call_ids) > FAN_OUT_ABOVE:
        task, chunks = enqueue_calls_task, _chunks(call_ids, FAN_OUT_CHUNK)
    else:
        task, chunks = place_call_task, _chunks(call_ids, 1)
    enqueued = 0
    for chunk in chunks:
        try:
            task.apply_async(
                (chunk if task is enqueue_calls_task else chunk[0],),
                retry=True,
                # Fail fast when the broker is down: the rows are safe and the sweep enqueues them.
                retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception as exc:  # the broker is unreachable; the rows are safe in the DB
            logger.warning(
                "Could not enqueue %d voice call(s) (%s); the sweep will place them.",
                len(call_ids) - enqueued,
                type(exc).__name__,
            )
            break
        enqueued += len(chunk)
    return enqueued


def _chunks(items: Sequence[int], size: int) -> list[list[int]]:
    """Split a sequence into lists of at most `size` items."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def new_batch_name(prefix: str) -> str:
    """Name a batch after what made it and when: customer-20260127-153012-1a2b."""
    return f"{prefix}-{timezone.localtime():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"[:100]


def create_call(*, enqueue: bool = True, **fields: Any) -> VoiceCall:
    """Validate, save and (after commit) enqueue one call; raises EsmsInputError when invalid."""
    call = _new_call(**fields)
    call.save()
    if enqueue:
        transaction.on_commit(lambda: enqueue_calls([call.pk]))
    return call


def create_calls(
    rows: Iterable[Mapping[str, Any]],
    *,
    batch: str = "",
    created_by: Any = None,
    enqueue: bool = True,
) -> list[VoiceCall]:
    """Validate every row, then bulk-create them as one batch; nothing is created if one fails."""
    calls: list[VoiceCall] = []
    errors: dict[int, EsmsInputError] = {}
    for index, row in enumerate(rows, start=1):
        try:
            calls.append(_new_call(**{"batch": batch, "created_by": created_by, **row}))
        except EsmsInputError as exc:
            errors[index] = exc
    if errors:
        raise BulkCallError(errors)
    with transaction.atomic():
        created = VoiceCall.objects.bulk_create(calls, batch_size=BULK_CHUNK_SIZE)
        if enqueue:
            ids = [call.pk for call in created]
            transaction.on_commit(lambda: enqueue_calls(ids))
    return created


# ----------------------------------------------------------------------------- placing


def _claim(call_id: int) -> VoiceCall | None:
    """Take a pending call for this worker; None when another worker has it or it moved on."""
    now = timezone.now()
    db = router.db_for_write(VoiceCall)
    if _can_update_returning(connections[db]):
        # The same conditional UPDATE, returning the claimed row: one round trip, not two.
        claimed_at = VoiceCall._meta.get_field("claimed_at").get_db_prep_save(now, connections[db])
        params = [CallStatus.SUBMITTING, claimed_at, call_id, CallStatus.PENDING]
        rows = list(VoiceCall.objects.raw(_claim_sql(db), params, using=db))
        return rows[0] if rows else None
    claimed = VoiceCall.objects.filter(pk=call_id, status=CallStatus.PENDING).update(
        status=CallStatus.SUBMITTING,
        attempts=F("attempts") + 1,
        claimed_at=now,
        next_attempt_at=None,
    )
    return VoiceCall.objects.filter(pk=call_id).first() if claimed else None


def _can_update_returning(conn: BaseDatabaseWrapper) -> bool:
    """Whether the database has UPDATE ... RETURNING (PostgreSQL; SQLite 3.35+)."""
    return conn.vendor == "postgresql" or (
        conn.vendor == "sqlite" and conn.features.can_return_columns_from_insert
    )


@functools.cache
def _claim_sql(db: str) -> str:
    """Return _claim's UPDATE ... RETURNING every column, for the database alias db."""
    qn = connections[db].ops.quote_name
    col = {f.name: qn(str(f.column)) for f in VoiceCall._meta.concrete_fields}
    return (
        f"UPDATE {qn(VoiceCall._meta.db_table)} SET {col['status']} = %s, "  # noqa: S608 - names
        f"{col['attempts']} = {col['attempts']} + 1, {col['claimed_at']} = %s, "
        f"{col['next_attempt_at']} = NULL WHERE {col['id']} = %s AND {col['status']} = %s "
        f"RETURNING {', '.join(col.values())}"
    )


def _finish(call: VoiceCall, new: str, *, code: str = "", message: str = "", **extra: Any) -> bool:
    """Move a claimed call out of submitting, unless something else moved it meanwhile."""
    now = timezone.now()
    values: dict[str, Any] = {
        "status": new,
        "last_error_code": code[:32],
        "last_error_message": redact_for_call(message, call.uuid),
        **extra,
    }
    if new in FINAL:
        values["completed_at"] = now
    moved = VoiceCall.objects.filter(pk=call.pk, status=CallStatus.SUBMITTING).update(
        **values, updated_at=now
    )
    if moved:
        for name, value in {**values, "updated_at": now}.items():
            setattr(call, name, value)  # receivers get the call as it now is
        if new != CallStatus.PENDING:
            _send_status_changed(call, CallStatus.SUBMITTING, new, None)
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
    calls = VoiceCall.objects.filter(pk=call.pk)
    movable = calls.filter(status__in=sources_for(CallStatus.ACCEPTED))
    moved = _store_answer(call, submission, lambda: movable.update(**values))
    if moved:
        old = call.status
        for name, value in values.items():
            setattr(call, name, value)  # receivers get the call as it now is
        _send_status_changed(call, old, CallStatus.ACCEPTED, None)
        return
    # A callback got there first and moved the call on: keep the SMSID and the time eSMS
    # took the call all the same (the sweep polls and expires by that time), in one statement.
    kept: dict[str, Any] = {"submitted_at": Coalesce("submitted_at", Value(now)), "updated_at": now}
    if submission.smsid:
        kept["smsid"] = Case(When(smsid="", then=Value(submission.smsid)), default=F("smsid"))
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
    ratelimit.acquire(conf.rate_limit)
    try:
        call = _claim(call_id)
    finally:
        _release_connection()
    if call is None:
        return PlaceResult(None)
    try:
        return _place_claimed(call, conf.max_attempts)
    finally:
        _release_connection()


def _place_claimed(call: VoiceCall, max_attempts: int) -> PlaceResult:
    """Send a claimed call and move it to its next status."""
    failure: EsmsVoiceError
    try:
        submission = _send(call)
    except EsmsApiError as exc:
        # eSMS answered: a refusal is final, never retried with the same request.
        _finish(call, CallStatus.REJECTED, code=exc.code, message=str(exc))
        return PlaceResult(CallStatus.REJECTED)
    except EsmsInputError as exc:
        _finish(call, CallStatus.ERROR, code="invalid", message=str(exc))
        return PlaceResult(CallStatus.ERROR)
    except (EsmsTransportError, EsmsSettingsError) as exc:
        failure = exc
    else:
        _accept(call, submission)
        return PlaceResult(CallStatus.ACCEPTED)

    code = type(failure).__name__
    if failure.retryable or isinstance(failure, EsmsSettingsError):
        if call.attempts < max_attempts:
            delay = retry_delay(call.attempts)
            next_at = timezone.now() + dt.timedelta(seconds=delay)
            if _finish(
                call, CallStatus.PENDING, code=code, message=str(failure), next_attempt_at=next_at
            ):
                return PlaceResult(CallStatus.PENDING, retry_in=delay)
            return PlaceResult(None)
        message = f"gave up after {call.attempts} attempt(s): {failure}"
    else:
        message = str(failure)
    _finish(call, CallStatus.ERROR, code=code, message=message)
    return PlaceResult(CallStatus.ERROR)


# ----------------------------------------------------------------------------- results


def result_fingerprint(result: CallResult) -> str:
    """Return a short hash of a result's fields, to recognise a delivery seen before."""
    fields = (
        result.reference_id.lower(), result.send_status, result.call_status,
        result.call_duration, result.ivr, result.sent_result, result.price, result.cid,
    )  # fmt: skip
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


_RESULT_FIELDS = {
    "send_status": "send_status",
    "call_status": "call_status",
    "call_duration": "duration",
    "ivr": "ivr_pressed",
    "sent_result": "sent_result",
    "price": "price",
    "cid": "cid",
}


#: What an in-progress report (SendStatus 2 or 7) says about the call; the rest is not known yet.
_IN_PROGRESS_FIELDS = frozenset({"send_status", "sent_result", "cid"})


def _result_values(result: CallResult) -> dict[str, Any]:
    """Return the call columns a result fills, leaving out what it does not carry."""
    values = {column: getattr(result, attr) for attr, column in _RESULT_FIELDS.items()}
    if status_for_result(result) == CallStatus.IN_PROGRESS:
        # eSMS fills CallDuration=0 and Price=0.0000 before the call has ended: placeholders,
        # which would later read as a result that a final report contradicts.
        values = {k: v for k, v in values.items() if k in _IN_PROGRESS_FIELDS}
    return {k: v for k, v in values.items() if v not in (None, "")}


def _storable(text: str) -> str:
    """Replace NUL characters, which PostgreSQL text columns refuse, with U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


#: The columns _judge reads or writes: without a call_status_changed receiver, the only ones
#: the row lock fetches (a receiver gets the whole row).
_JUDGED_FIELDS = (
    "uuid",
    "status",
    "smsid",
    "event_fingerprints",
    "submitted_at",
    *_RESULT_FIELDS.values(),
)


def record_result(
    *,
    call_uuid: Any,
    source: str,
    raw: str,
    result: CallResult | None,
    error: str = "",
    remote_addr: str | None = None,
    method: str = "",
    authoritative: bool = False,
) -> CallbackEvent | None:
    """Store a callback or poll and apply it under the call's row lock; None if no such call.

    One transaction: lock the call, judge, update it, insert the event. If that fails for any
    reason but a lost database connection (OperationalError, InterfaceError: the caller
    answers 503), the raw delivery is still stored, with outcome "error", and the error raised.

    The call is written with a queryset update() and the event with one plain INSERT, so
    Django's pre_save/post_save signals are not sent for them: listen to call_status_changed
    and callback_received instead. Without a call_status_changed receiver the call is fetched
    with the judged columns only.
    """
    event = CallbackEvent(
        call_id=call_uuid,
        source=source,
        raw=_storable(raw[:MAX_RAW_LENGTH]),
        remote_addr=remote_addr,
        method=method[:8],
        parsed=_parsed(result) if result is not None else {},
        fingerprint=result_fingerprint(result) if result is not None else "",
        error=_storable(redact_for_call(error, call_uuid)[:2000]),
    )
    if result is not None and not authoritative and _apply_fast(event, result):
        return event
    try:
        with transaction.atomic():
            calls = VoiceCall.objects.select_for_update()
            if not call_status_changed.has_listeners(VoiceCall):
                calls = calls.only(*_JUDGED_FIELDS)
            try:
                call = calls.get(uuid=call_uuid)
            except VoiceCall.DoesNotExist:
                return None
            old = call.status
            if result is None:
                event.outcome = EventOutcome.INVALID
            else:
                event.outcome, changed, note = _judge(call, result, authoritative=authoritative)
                event.error = note or event.error
                if changed:
                    call.updated_at = timezone.now()
                    values = {name: getattr(call, name) for name in changed}
                    VoiceCall.objects.filter(pk=call.pk).update(
                        **values, updated_at=call.updated_at
                    )
            event.old_status, event.new_status = old, call.status
            _insert_event(event)
            if call.status != old:
                _send_status_changed(call, old, call.status, event)
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the caller answers 503 so that eSMS retries
    except Exception as exc:  # a bug, or a value the database refused (DataError, ...)
        _store_failure(event, exc)
        raise
    _announce_after_commit(event)
    return event


def _store_failure(event: CallbackEvent, exc: Exception) -> None:
    """Store a delivery whose processing failed, outcome "error", once its transaction is gone."""
    event.pk, event.outcome = None, EventOutcome.ERROR
    event.new_status = event.old_status  # whatever was decided was rolled back
    error = redact_for_call(f"{type(exc).__name__}: {exc}", event.call_id)
    event.error = _storable(error[:2000])
    event.save(force_insert=True)
    _announce_after_commit(event)


def _announce_after_commit(event: CallbackEvent) -> None:
    """Send callback_received once the event is committed, if anybody listens."""
    if callback_received.has_listeners(CallbackEvent):
        transaction.on_commit(lambda: callback_received.send(sender=CallbackEvent, event=event))


def _apply_fast(event: CallbackEvent, result: CallResult) -> bool:
    """Apply a result that advances its call in one statement (PostgreSQL); False if not.

    See fastpath.py. False also when the call does not exist or the statement failed on
    its data: record_result's general path then decides, and stores, as it always does.
    """
    incoming = status_for_result(result)
    if incoming is None:
        return False
    conn = connections[router.db_for_write(VoiceCall)]
    if not fastpath.usable(conn):
        return False
    with_call = call_status_changed.has_listeners(VoiceCall)
    try:
        applied = fastpath.apply_advance(
            conn=conn,
            event=event,
            incoming=incoming,
            sources=sources_for(incoming),
            values=_result_values(result),
            fingerprint=event.fingerprint,
            reference=normalize_smsid(result.reference_id),
            final=incoming in FINAL,
            kept=FINGERPRINTS_KEPT,
            with_call=with_call,
        )
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the caller answers 503 so that eSMS retries
    except DatabaseError as exc:  # a value the column refused: the general path decides
        logger.debug("Fast path of call %s failed (%s): general path", event.call_id, exc)
        applied = None
    if applied is None:
        event.pk, event.outcome = None, EventOutcome.RECEIVED
        return False
    old, call = applied
    if call is not None:  # else no receiver is connected: nobody to tell
        _send_status_changed(call, old, incoming, event)
    _announce_after_commit(event)
    return True


def _insert_event(event: CallbackEvent) -> None:
    """INSERT a new event with one cached statement, not the whole Model.save() machinery."""
    db = router.db_for_write(CallbackEvent, instance=event)
    conn = connections[db]
    if not conn.features.can_return_columns_from_insert:
        event.save(force_insert=True, using=db)
        return
    fields = CallbackEvent.insert_fields()
    params = [f.get_db_prep_save(f.pre_save(event, True), conn) for f in fields]
    with conn.cursor() as cursor:
        cursor.execute(_event_insert_sql(db), params)
        event.pk = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, db


@functools.cache
def _event_insert_sql(db: str) -> str:
    """Return the event INSERT ... RETURNING id for the database alias db."""
    qn = connections[db].ops.quote_name
    columns = ", ".join(qn(str(f.column)) for f in CallbackEvent.insert_fields())
    placeholders = ", ".join(["%s"] * len(CallbackEvent.insert_fields()))
    opts = CallbackEvent._meta
    return (  # quoted names only; the values are parameters
        f"INSERT INTO {qn(opts.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"RETURNING {qn(str(opts.pk.column))}"
    )


def _judge(
    call: VoiceCall, result: CallResult, *, authoritative: bool
) -> tuple[str, list[str], str]:
    """Decide an event's outcome and change the call in memory; return the fields changed.

    The third value, when not empty, says which stored values a conflict or correction met.
    """
    fingerprint = result_fingerprint(result)
    # A poll is judged on its merits: it may correct what an identical callback could not.
    if fingerprint in call.event_fingerprints and not authoritative:
        return EventOutcome.DUPLICATE, [], ""
    reference = normalize_smsid(result.reference_id)
    if reference and call.smsid and reference.lower() != call.smsid.lower():
        return EventOutcome.MISMATCH, [], ""
    incoming = status_for_result(result)
    if incoming is None:
        return EventOutcome.INVALID, [], ""
    call.event_fingerprints = [*call.event_fingerprints, fingerprint][-FINGERPRINTS_KEPT:]
    changed = ["event_fingerprints"]
    if reference and not call.smsid:
        call.smsid = reference  # accepted through 124, which carries no SMSID: adopt it
        changed.append("smsid")
    verdict = decide(call.status, incoming, authoritative=authoritative).verdict
    if verdict is Verdict.STALE:
        return EventOutcome.OUT_OF_ORDER, changed, ""
    values = _result_values(result)
    if verdict is Verdict.SAME:
        return _merge(call, values, authoritative=authoritative, changed=changed)
    late = {name: value for name, value in values.items() if getattr(call, name) != value}
    note = ""
    if verdict in (Verdict.CONFLICT, Verdict.CORRECTION):
        differing = {name: (getattr(call, name), value) for name, value in late.items()}
        note = _differences(differing, status=(call.status, incoming))
        if verdict is Verdict.CONFLICT:
            return EventOutcome.CONFLICT, changed, _not_applied(note)
    for name, value in late.items():
        setattr(call, name, value)
    changed.extend(late)
    call.status = incoming
    # An advance means eSMS has the call: a call revived from "error" is open again (or final
    # now), its last error no longer describes it, and it was submitted by now.
    call.completed_at = timezone.now() if incoming in FINAL else None
    call.last_error_code, call.last_error_message = "", ""
    if call.submitted_at is None:
        call.submitted_at = timezone.now()
        changed.append("submitted_at")
    changed.extend(["status", "completed_at", "last_error_code", "last_error_message"])
    if verdict is Verdict.CORRECTION:
        return EventOutcome.CORRECTED, changed, _corrected(note)
    return EventOutcome.APPLIED, changed, ""


def _merge(
    call: VoiceCall, values: dict[str, Any], *, authoritative: bool, changed: list[str]
) -> tuple[str, list[str], str]:
    """Apply a result with the call's own status as states.merge says (fill, never overwrite)."""
    stored = {name: getattr(call, name) for name in _RESULT_FIELDS.values()}
    merged = merge(stored, values, authoritative=authoritative)
    if merged.verdict is Verdict.STALE:
        return EventOutcome.OUT_OF_ORDER, changed, ""
    note = _differences(merged.differing)
    if merged.verdict is Verdict.CONFLICT:
        return EventOutcome.CONFLICT, changed, _not_applied(note)
    for name, value in merged.values.items():
        setattr(call, name, value)
    changed.extend(merged.values)
    if merged.verdict is Verdict.CORRECTION:
        return EventOutcome.CORRECTED, changed, _corrected(note)
    return (EventOutcome.MERGED if merged.values else EventOutcome.DUPLICATE), changed, ""


def _differences(
    differing: Mapping[str, tuple[Any, Any]], *, status: tuple[str, str] | None = None
) -> str:
    """Say which stored values a result contradicts, "label: stored → incoming", for the event."""
    parts = []
    if status is not None:
        parts.append(f"{_label('status')}: {status_label(status[0])} → {status_label(status[1])}")
    for name, (stored, value) in differing.items():
        if name != "call_status" or status is None:  # the status says it, in the app's words
            parts.append(f"{_label(name)}: {_shown(stored)} → {_shown(value)}")
    return "; ".join(parts)


def _not_applied(differences: str) -> str:
    """The event's note for a conflict: what it contradicts, and that nothing was applied."""
    return _("Not applied, differs from the call: %s") % differences


def _corrected(differences: str) -> str:
    """The event's note for a correction: what the poll replaced."""
    return _("Corrected by a status poll: %s") % differences


def _label(name: str) -> str:
    """Return a call column's translated label."""
    field = VoiceCall._meta.get_field(name)
    return str(field.verbose_name) if isinstance(field, Field) else name


def _shown(value: Any) -> str:
    """Show a result value in a note; nothing as a dash."""
    return "-" if value in (None, "") else str(value)


def _parsed(result: CallResult) -> dict[str, Any]:
    """Return the parsed fields of a result as JSON-friendly values."""
    return {
        "reference_id": result.reference_id,
        "send_status": result.send_status,
        "call_status": result.call_status,
        "call_duration": result.call_duration,
        "ivr": result.ivr,
        "sent_result": result.sent_result,
        "price": None if result.price is None else str(result.price),
        "cid": result.cid,
    }


def refresh_status(call: VoiceCall) -> CallbackEvent | None:
    """Ask eSMS for a call's state and apply it; None when eSMS does not know it yet (105)."""
    if not call.smsid:
        return None
    try:
        result = get_backend().get_send_status(call.smsid)
    except EsmsNotFoundYet:
        return None
    return record_result(
        call_uuid=call.uuid,
        source=EventSource.POLL,
        raw=redact_for_call(json.dumps(dict(result.raw), default=str), call.uuid),
        result=result,
        authoritative=True,
    )


# ----------------------------------------------------------------------------- operators


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
        _send_status_changed(call, old, CallStatus.CANCELED, None)
    return bool(canceled)


def retry_call(call: VoiceCall, *, created_by: Any = None, enqueue: bool = True) -> VoiceCall:
    """Place a refused or failed call again as a new call linked to the old one."""
    if call.status not in RETRYABLE:
        raise EsmsInputError(
            "status",
            _("Only rejected calls and calls that failed to send can be retried, not %(status)s.")
            % {"status": call.get_status_display()},
        )
    fields = {name: getattr(call, name) for name in (*options.COPIED, *LINK_FIELDS)}
    return create_call(
        enqueue=enqueue, created_by=created_by or call.created_by, retry_of=call, **fields
    )


# ----------------------------------------------------------------------------- sweep


def sweep(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> SweepReport:
    """Re-enqueue forgotten pending calls, recover stuck ones, and poll calls with no result."""
    conf = voice_settings()
    now = now or timezone.now()
    report = SweepReport()
    with transaction.atomic():
        pending = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .filter(status=CallStatus.PENDING)
            .filter(
                Q(next_attempt_at__lte=now - dt.timedelta(seconds=conf.pending_grace))
                | Q(next_attempt_at__isnull=True,
                    created_at__lte=now - dt.timedelta(seconds=conf.pending_grace))
            )
            .values_list("pk", flat=True)[:batch_size]
        )  # fmt: skip
        # A worker that died mid-request leaves its call in submitting: eSMS may or may not
        # have it, and resending with the same RequestId is safe (124 if it does).
        stuck = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .filter(
                status=CallStatus.SUBMITTING,
                claimed_at__lte=now - dt.timedelta(seconds=conf.submit_lease),
            )
            .values_list("pk", flat=True)[:batch_size]
        )
        VoiceCall.objects.filter(pk__in=stuck).update(status=CallStatus.PENDING, updated_at=now)
        requeue = pending + stuck
        # Leave them alone for a grace period, so the next sweep does not enqueue them twice.
        VoiceCall.objects.filter(pk__in=requeue).update(next_attempt_at=now)
        poll_before = now - dt.timedelta(seconds=conf.poll_after)
        to_poll = list(
            VoiceCall.objects.select_for_update(skip_locked=True)
            .annotate(since=_result_due_since())
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
        .annotate(since=_result_due_since())
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
        _send_status_changed(call, old, CallStatus.UNKNOWN, None)
    return [call.pk for call in expired]


def _result_due_since() -> Greatest:
    """When a call's result became due: eSMS took it, or the time it was scheduled for."""
    taken = Coalesce("submitted_at", "created_at")
    return Greatest(taken, Coalesce("send_at", taken))
