"""Claim a pending call for one worker: a conditional UPDATE that only one worker can win.

A call with no frequency cap, nearly every call, is claimed in one statement: the UPDATE
tests every rule of policies.claimable() and that the call has no cap, and returns the row.
When that statement claims nothing, the call's cap is read: a call with a cap takes the
locked path (its number locked, the calls that went there counted, then the claim); one
without is tried once more, in case its campaign dropped its cap in between.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from .. import policies
from ..models import VoiceCall
from ..states import CLAIMABLE, CallStatus
from .canceling import stop_call
from .pg import prepared


def claim(call_id: int) -> VoiceCall | None:
    """Take a pending call for this worker; None when another worker has it or it moved on.

    A call with a frequency cap is claimed under a lock on its number, after counting the
    calls that went there: two workers claiming calls to one number place at most the cap.
    """
    db = router.db_for_write(VoiceCall)
    returning = can_update_returning(connections[db])
    if returning:
        call = _claim_returning(call_id, db, uncapped_only=True)
        if call is not None:
            return call
    capped = policies.claim_cap(call_id)
    if capped is None:
        # No cap now: the one-statement claim said no, unless the call's campaign dropped
        # its cap in between; one more claim settles it.
        return _claim_now(call_id)
    phone, cap = capped
    with transaction.atomic(using=db):
        policies.lock_number(phone, db)
        refused = policies.cap_refusal_at_claim(call_id, phone, cap, timezone.now())
        if refused is not None:
            call, why = refused
            stop_call(call, code=why.code, message=str(why.message))
            return None
        return _claim_now(call_id)


def _claim_now(call_id: int) -> VoiceCall | None:
    """The claim itself: one conditional UPDATE (RETURNING the row where the database can)."""
    db = router.db_for_write(VoiceCall)
    if can_update_returning(connections[db]):
        return _claim_returning(call_id, db, uncapped_only=False)
    now = timezone.now()
    claimed = VoiceCall.objects.filter(policies.claimable(now), pk=call_id).update(
        status=CallStatus.SUBMITTING,
        attempts=F("attempts") + 1,
        claimed_at=now,
        next_attempt_at=None,
    )
    return VoiceCall.objects.filter(pk=call_id).first() if claimed else None


def _claim_returning(call_id: int, db: str, *, uncapped_only: bool) -> VoiceCall | None:
    """Run the claim's UPDATE ... RETURNING every column; the claimed call, or None."""
    conn = connections[db]
    now = timezone.now()
    claimed_at = VoiceCall._meta.get_field("claimed_at").get_db_prep_save(now, conn)
    params = [
        CallStatus.SUBMITTING,
        claimed_at,
        call_id,
        *sorted(CLAIMABLE),
        *policies.claim_params(now, conn),
        *(policies.uncapped_params() if uncapped_only else []),
    ]
    # Prepared once per database session on PostgreSQL: parsing and planning this statement
    # cost PostgreSQL more than running it, at every claim.
    row = prepared.run(conn, _claim_sql(db, uncapped_only), params, lambda c: c.fetchone())
    return None if row is None else _load_call(db)(row)


def can_update_returning(conn: BaseDatabaseWrapper) -> bool:
    """Whether the database has UPDATE ... RETURNING (PostgreSQL; SQLite 3.35+)."""
    return conn.vendor == "postgresql" or (
        conn.vendor == "sqlite" and conn.features.can_return_columns_from_insert
    )


@functools.cache
def _claim_sql(db: str, uncapped_only: bool) -> str:
    """Return the claim's UPDATE ... RETURNING every column (params: _claim_returning)."""
    qn = connections[db].ops.quote_name
    col = {f.name: qn(str(f.column)) for f in VoiceCall._meta.concrete_fields}
    policy = policies.claim_conditions(qn)
    if uncapped_only:
        policy += f" AND {policies.uncapped_condition(qn)}"
    return (
        f"UPDATE {qn(VoiceCall._meta.db_table)} SET {col['status']} = %s, "  # noqa: S608 - names
        f"{col['attempts']} = {col['attempts']} + 1, {col['claimed_at']} = %s, "
        f"{col['next_attempt_at']} = NULL WHERE {col['id']} = %s "
        f"AND {col['status']} IN ({', '.join(['%s'] * len(CLAIMABLE))}) AND {policy} "
        f"RETURNING {', '.join(col.values())}"
    )


@functools.cache
def _load_call(db: str) -> Callable[[Sequence[Any]], VoiceCall]:
    """Return what turns a row of every column into a VoiceCall, as a queryset's would.

    Built once per alias: the columns' converters (a JSON field's decoding, SQLite's
    booleans), where Django's raw() would look them up again at every claim.
    """
    conn = connections[db]
    fields = VoiceCall._meta.concrete_fields
    names = [f.attname for f in fields]
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(VoiceCall._meta.db_table)
        found = conn.ops.get_db_converters(column) + column.get_db_converters(conn)
        if found:
            converters.append((index, column, found))

    def load(row: Sequence[Any]) -> VoiceCall:
        values = list(row)
        for index, column, found in converters:
            for convert in found:
                values[index] = convert(values[index], column, connections[db])
        return VoiceCall.from_db(db, names, values)

    return load
