"""Apply a callback or a status poll: store it raw, judge it under the call's row lock, tell."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)
from django.utils import timezone

from ..backends import get_backend
from ..esms.payloads import CallResult, normalize_smsid
from ..esms.protocol import describe_code
from ..esms.redaction import redact_for_call
from ..exceptions import EsmsNotFoundYet
from ..models import CallbackEvent, EventOutcome, EventSource, VoiceCall
from ..signals import call_status_changed, callback_received
from ..states import advance_writes, seen_writes, sources_for, status_for_result
from .judging import FINGERPRINTS_KEPT, RESULT_FIELDS, judge, result_fingerprint, result_values
from .notify import send_status_changed
from .pg import fastpath

logger = logging.getLogger(__name__)

MAX_RAW_LENGTH = 20_000


def _storable(text: str) -> str:
    """Replace NUL characters, which PostgreSQL text columns refuse, with U+FFFD."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


#: The columns judge() reads or writes: without a call_status_changed receiver, the only ones
#: the row lock fetches (a receiver gets the whole row). Every column states.advance_writes
#: writes is among them: apply_writes reads each, and a deferred one costs a query.
JUDGED_FIELDS = (
    "uuid",
    "status",
    "smsid",
    "event_fingerprints",
    "submitted_at",
    "completed_at",
    "last_error_code",
    "last_error_message",
    "updated_at",
    *RESULT_FIELDS.values(),
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
    )
    _describe(event, result, error)
    if result is not None and not authoritative and _apply_fast(event, result):
        return event
    return _judge_and_store(event, result, authoritative=authoritative, stored=False)


#: The columns judging an event writes: what reprocessing updates on its row (never its raw).
REJUDGED_FIELDS = (
    "parsed",
    "fingerprint",
    "outcome",
    "old_status",
    "new_status",
    "error",
    "reprocessed_at",
    "reprocess_count",
)


def reapply_result(
    event: CallbackEvent, result: CallResult | None, *, error: str = ""
) -> CallbackEvent | None:
    """Judge a stored event's result again, by record_result's general path; None if no call.

    The event's own row is updated (REJUDGED_FIELDS, with when and how many times it was
    reprocessed), never its raw; signals as for a new delivery. Not authoritative, even for a
    poll: a stored answer is no longer the call's current state. An error while applying is
    recorded on the event, outcome "error", and raised, as record_result does.
    """
    _describe(event, result, error)
    event.reprocessed_at = timezone.now()
    event.reprocess_count += 1
    return _judge_and_store(event, result, authoritative=False, stored=True)


def _describe(event: CallbackEvent, result: CallResult | None, error: str) -> None:
    """Set what an event says before it is judged: the parsed fields, fingerprint and error."""
    event.parsed = _parsed(result) if result is not None else {}
    event.fingerprint = result_fingerprint(result) if result is not None else ""
    event.error = _storable(redact_for_call(error, event.call_id)[:2000])


def _judge_and_store(
    event: CallbackEvent, result: CallResult | None, *, authoritative: bool, stored: bool
) -> CallbackEvent | None:
    """The general path: judge under the call's row lock, write the call, save the event.

    A new event is inserted, a stored one (`stored`) updated. See record_result.
    """
    try:
        with transaction.atomic():
            calls = VoiceCall.objects.select_for_update()
            if not call_status_changed.has_listeners(VoiceCall):
                calls = calls.only(*JUDGED_FIELDS)
            call_uuid: Any = event.call_id  # as the URL spelt it, for a new delivery
            try:
                call = calls.get(uuid=call_uuid)
            except VoiceCall.DoesNotExist:
                return None
            old = call.status
            if result is None:
                event.outcome = EventOutcome.INVALID
            else:
                event.outcome, changed, note = judge(call, result, authoritative=authoritative)
                event.error = note or event.error
                if changed:
                    call.updated_at = timezone.now()
                    values = {name: getattr(call, name) for name in [*changed, "updated_at"]}
                    VoiceCall.objects.filter(pk=call.pk).update(**values)
            event.old_status, event.new_status = old, call.status
            if stored:
                _update_event(event)
            else:
                _insert_event(event)
            if call.status != old:
                send_status_changed(call, old, call.status, event)
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the caller answers 503 so that eSMS retries
    except Exception as exc:  # a bug, or a value the database refused (DataError, ...)
        _store_failure(event, exc, stored=stored)
        raise
    _announce_after_commit(event)
    return event


def _update_event(event: CallbackEvent) -> None:
    """Write a stored event's judgement with a queryset update(), as the call's is written."""
    values = {name: getattr(event, name) for name in REJUDGED_FIELDS}
    CallbackEvent.objects.filter(pk=event.pk).update(**values)


def _store_failure(event: CallbackEvent, exc: Exception, *, stored: bool) -> None:
    """Store a delivery whose processing failed, outcome "error", once its transaction is gone."""
    event.outcome = EventOutcome.ERROR
    event.new_status = event.old_status  # whatever was decided was rolled back
    error = redact_for_call(f"{type(exc).__name__}: {exc}", event.call_id)
    event.error = _storable(error[:2000])
    if stored:
        _update_event(event)
    else:
        event.pk = None
        event.save(force_insert=True)
    _announce_after_commit(event)


def _announce_after_commit(event: CallbackEvent) -> None:
    """Send callback_received once the event is committed, if anybody listens."""
    if callback_received.has_listeners(CallbackEvent):
        transaction.on_commit(lambda: callback_received.send(sender=CallbackEvent, event=event))


def _apply_fast(event: CallbackEvent, result: CallResult) -> bool:
    """Apply a result that advances its call in one statement (PostgreSQL); False if not.

    See pg/fastpath.py. False also when the call does not exist or the statement failed on
    its data: record_result's general path then decides, and stores, as it always does.
    """
    incoming = status_for_result(result)
    if incoming is None:
        return False
    conn = connections[router.db_for_write(VoiceCall)]
    if not fastpath.usable(conn):
        return False
    with_call = call_status_changed.has_listeners(VoiceCall)
    reference = normalize_smsid(result.reference_id)
    # What judge() writes for an advance, from the same tables in states.py.
    writes = {
        **seen_writes(fingerprint=event.fingerprint, reference=reference, kept=FINGERPRINTS_KEPT),
        **advance_writes(incoming, result_values(result)),
    }
    try:
        applied = fastpath.apply_advance(
            conn=conn,
            event=event,
            incoming=incoming,
            sources=sources_for(incoming),
            writes=writes,
            fingerprint=event.fingerprint,
            reference=reference,
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
        send_status_changed(call, old, incoming, event)
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
    """Ask eSMS for a call's state and store its answer, applied; None if the call is gone.

    A 105 (eSMS does not know the call yet) is stored too, changing nothing on the call.
    """
    if not call.smsid:
        return None
    try:
        result = get_backend().get_send_status(call.smsid)
    except EsmsNotFoundYet as exc:
        return _record_not_known_yet(call, exc)
    return record_result(
        call_uuid=call.uuid,
        source=EventSource.POLL,
        raw=redact_for_call(json.dumps(dict(result.raw), default=str), call.uuid),
        result=result,
        authoritative=True,
    )


def _record_not_known_yet(call: VoiceCall, exc: EsmsNotFoundYet) -> CallbackEvent | None:
    """Store a poll eSMS answered 105: staff see it was asked; the call's status stays."""
    answer = exc.data or {"CodeResponse": exc.code}  # the locmem backend keeps no answer
    event = CallbackEvent(
        call_id=call.uuid,
        source=EventSource.POLL,
        raw=_storable(redact_for_call(json.dumps(answer, default=str), call.uuid)[:MAX_RAW_LENGTH]),
        outcome=EventOutcome.NOT_KNOWN_YET,
        error=f"{exc.code}: {describe_code(exc.code).description}",
    )
    with transaction.atomic():
        status = VoiceCall.objects.filter(uuid=call.uuid).values_list("status", flat=True).first()
        if status is None:
            return None
        event.old_status = event.new_status = status
        _insert_event(event)
    _announce_after_commit(event)
    return event
