"""PostgreSQL fast path of services.record_result: an advancing result in one statement.

Nearly every callback eSMS sends moves its call forward (accepted → in progress → a final
result). For that case alone, and only on PostgreSQL in autocommit, record_result runs one
statement instead of three in a transaction (BEGIN, SELECT … FOR UPDATE, UPDATE, INSERT,
COMMIT): a data-modifying CTE that locks the call, updates it only if the result advances it,
and inserts the event only if the update happened::

    WITH p AS (SELECT <the values, as JSON>::jsonb AS j),
         prev AS (SELECT id, status FROM call, p WHERE uuid = p.j's uuid FOR UPDATE),
         upd AS (UPDATE call … FROM prev, p WHERE <the result advances the call> RETURNING …)
    INSERT INTO event … SELECT …, prev's status, … FROM upd, p RETURNING id, old_status

Every value the statement needs travels in one JSON parameter (``p.j`` above), read back with
each column's cast: Python sends one string instead of seventeen values, and prepared.py has
psycopg prepare the statement once per database session, so PostgreSQL neither parses nor
plans it again (planning it cost more server CPU than running it).

With a call_status_changed receiver connected, the statement also returns the call's whole
row, for the signal. No model instance is saved, so no pre_save/post_save signal is sent.

One statement in autocommit is one transaction: the event is stored and applied atomically,
under the row lock. When no row comes back the result did not advance the call (or the call
does not exist) and nothing was written: record_result then takes the general path, which
decides every other outcome (duplicate, merged, mismatch, out of order, …) in Python.

The WHERE clause is the ADVANCE branch of services.judging.judge, and no more:

* the call's status is one of ``states.sources_for(incoming)`` (the rule stays in states.py);
* the result's fingerprint is not among the call's (a string element of the JSON array);
* a ReferenceId matches the call's SMSID, or the call has none yet (then it is adopted).
  Only spellings that Python's ``str.lower()`` equates with the ReferenceId are matched, so
  the test can only be stricter than judge's, never looser: anything else takes the
  general path.

The SET clause is built from the writes the caller passes: ``states.seen_writes`` and
``states.advance_writes``, the same table judge() applies in Python, each kind of write
(set, fill if empty, append and keep the last n) spelt once in SQL below.
tests/callbacks/test_fastpath.py runs a table of (call, delivery) pairs through both paths
and compares the rows they leave.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone

from ...models import CallbackEvent, EventOutcome, VoiceCall
from ...states import NOW, How, Write
from .prepared import preparing

# The statement's one parameter: a JSON object of every value it needs.
_ARGS = "args"

# Names of the bookkeeping columns the statement returns next to the call's.
_OLD_STATUS = "esms_old_status"
_EVENT_ID = "esms_event_id"


def usable(conn: BaseDatabaseWrapper) -> bool:
    """Whether the fast path may run: PostgreSQL, autocommit, no enclosing transaction.

    In a caller's transaction the general path runs: a statement that failed there would
    abort the whole transaction, where in autocommit the general path can still follow it.
    """
    return conn.vendor == "postgresql" and not conn.in_atomic_block and conn.get_autocommit()


def apply_advance(
    *,
    conn: BaseDatabaseWrapper,
    event: CallbackEvent,
    incoming: str,
    sources: frozenset[str],
    writes: Mapping[str, Write],
    fingerprint: str,
    reference: str,
    with_call: bool,
) -> tuple[str, VoiceCall | None] | None:
    """Apply an advancing result and insert its event in one statement; None if it did not.

    `event` is unsaved, its outcome and statuses not set yet; on success it is saved (pk,
    outcome applied, old and new status) and (old status, call) is returned, the call with
    every column when `with_call`, else None. On None nothing was written. `sources` are the
    statuses `incoming` advances (states.sources_for); `writes` what the advance writes.
    """
    db = conn.alias
    now = timezone.now()
    event.outcome, event.new_status, event.received_at = EventOutcome.APPLIED, incoming, now
    args: dict[str, Any] = {
        "uuid": str(event.call_id),
        "now": now.isoformat(),  # every microsecond, and the offset
        "fingerprint": fingerprint,
    }
    # The values are Python's own types already (str, int, Decimal, dict): each column's
    # cast in the statement reads them back, as the general path's save() would store them.
    for name, attname in _event_args():
        args[name] = getattr(event, attname)
    for i, write in enumerate(writes.values()):
        if write.value is not NOW:
            args[f"w{i}"] = write.value
    spellings: list[str] = []
    if reference:
        # The SMSID spellings judge takes for this ReferenceId, among the likely ones.
        spellings = sorted(
            {s for s in (reference, reference.lower(), reference.upper()) if _same(s, reference)}
        )
        args.update((f"r{i}", spelling) for i, spelling in enumerate(spellings))
    shape = tuple((name, w.how, w.value is NOW, w.kept) for name, w in writes.items())
    sql = _statement(db, incoming, sources, shape, len(spellings) if reference else -1, with_call)
    params = {_ARGS: _encode_json(args)}
    call: VoiceCall | None = None
    with preparing(conn):
        if with_call:
            rows = list(VoiceCall.objects.raw(sql, params, using=db))
            if not rows:
                return None
            call = rows[0]
            event_id, old = call.__dict__.pop(_EVENT_ID), call.__dict__.pop(_OLD_STATUS)
        else:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            if row is None:
                return None
            event_id, old = row
    event.pk, event.old_status = event_id, old
    event._state.adding, event._state.db = False, db
    return old, call


def _json_scalar(value: Any) -> str:
    """Spell a Decimal (a price) as the text its column's cast reads back exactly."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


# Unescaped text: shorter, and a database not in UTF-8 reads it in its own encoding.
_encode_json = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_json_scalar
).encode


def _arg(name: str, field: Field[Any, Any], conn: BaseDatabaseWrapper) -> str:
    """Return the SQL that reads argument `name` from the JSON parameter as the field's type."""
    db_type = _LENGTH.sub("", str(field.cast_db_type(conn)))  # a cast to varchar(n) would cut
    if db_type == "jsonb":
        return f"(p.j -> '{name}')"
    return f"(p.j ->> '{name}')::{db_type}"


_LENGTH = re.compile(r"\(\d+\)$")


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    """Return a model's concrete field by name."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def _column(field: Field[Any, Any]) -> str:
    """Return a concrete field's column name."""
    if field.column is None:
        raise TypeError(f"{field.name} has no column")
    return field.column


def _assignment(column: str, field: Field[Any, Any], how: How, value: str, kept: int) -> str:
    """Spell one write in SQL: `column` is the call's current value, `value` the new one."""
    if how is How.FILL:  # states.Write.applied: the value only if the column is None or ""
        if field.get_internal_type() in ("CharField", "TextField"):
            return f"COALESCE(NULLIF({column}, ''), {value})"
        return f"COALESCE({column}, {value})"
    if how is How.APPEND:  # [*column, value][-kept:]
        return (
            f"jsonb_path_query_array({column} || jsonb_build_array({value}), "
            f"'$[last - {int(kept) - 1} to last]')"
        )
    return value


def _same(spelling: str, reference: str) -> bool:
    """Whether judge would take an SMSID spelt `spelling` for the ReferenceId `reference`."""
    return spelling.lower() == reference.lower()


def _literal(value: str) -> str:
    """Quote a status or outcome (a code constant, [a-z_]+) as an SQL string literal."""
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"not a status or outcome: {value!r}")
    return f"'{value}'"


_CONSTANT = re.compile(r"[a-z_]+")


@functools.cache
def _event_fields() -> dict[str, Field[Any, Any]]:
    """Return the event fields the INSERT fills, by name: every concrete one but the key."""
    return {f.name: f for f in CallbackEvent.insert_fields()}


@functools.cache
def _event_args() -> tuple[tuple[str, str], ...]:
    """Return (argument name, attribute) of the event values the statement takes as arguments."""
    return tuple(
        (f"e_{name}", field.attname)
        for name, field in _event_fields().items()
        if name not in _EVENT_COLUMNS_FROM_STATEMENT
    )


# The event columns the statement fills from the update or from constants (%s: the status).
_EVENT_COLUMNS_FROM_STATEMENT = {
    "call": "upd.{uuid}",
    "received_at": "upd.{updated_at}",
    "outcome": _literal(EventOutcome.APPLIED),
    "fingerprint": "{fingerprint}",
    "old_status": f"upd.{_OLD_STATUS}",
    "new_status": "{incoming}",
}


@functools.cache
def _statement(
    db: str,
    incoming: str,
    sources: frozenset[str],
    shape: tuple[tuple[str, How, bool, int], ...],
    spellings: int,
    with_call: bool,
) -> str:
    """Return the statement for one shape of result (its status, what it writes, …).

    `shape` is (column, how, whether the value is NOW, kept) of each write; the values are
    arguments w0, w1, … in that order. `sources` (states.sources_for(incoming)) and the
    statuses become literals: code constants, so that fewer parameters are sent.
    `spellings` is -1 without a ReferenceId.
    """
    qn = connections[db].ops.quote_name
    opts = VoiceCall._meta

    def col(name: str) -> str:
        return qn(_column(_field(VoiceCall, name)))

    conn = connections[db]

    def arg(name: str, field: str, model: type[Model] = VoiceCall) -> str:
        return _arg(name, _field(model, field), conn)

    pk, status, fps = qn(_column(opts.pk)), col("status"), col("event_fingerprints")
    fingerprint = arg("fingerprint", "fingerprint", CallbackEvent)
    now = arg("now", "updated_at")
    assignments = [
        f"{col(name)} = "
        + _assignment(
            f"c.{col(name)}",
            _field(VoiceCall, name),
            how,
            now if is_now else arg(f"w{i}", name),
            kept,
        )
        for i, (name, how, is_now, kept) in enumerate(shape)
    ]
    sources_sql = ", ".join(_literal(s) for s in sorted(sources)) or "NULL"
    conditions = [
        f"c.{pk} = prev.{pk}",
        f"c.{status} IN ({sources_sql})",
        f"jsonb_typeof(c.{fps}) = 'array'",
        f"NOT c.{fps} ? {fingerprint}",
    ]
    if spellings >= 0:
        smsid = col("smsid")
        known = "".join(f", {arg(f'r{i}', 'smsid')}" for i in range(spellings))
        conditions.append(f"c.{smsid} IN (''{known})")
    returned = [f"prev.{status} AS {_OLD_STATUS}"]
    if with_call:
        returned += [f"c.{qn(_column(f))}" for f in opts.concrete_fields]
    else:
        returned += [f"c.{col('uuid')}", f"c.{col('updated_at')}"]
    event_opts = CallbackEvent._meta
    event_pk = qn(_column(event_opts.pk))
    fields = _event_fields()
    names = {
        "uuid": col("uuid"),
        "updated_at": col("updated_at"),
        "incoming": _literal(incoming),
        "fingerprint": fingerprint,
    }
    inserted = [
        _EVENT_COLUMNS_FROM_STATEMENT[name].format(**names)
        if name in _EVENT_COLUMNS_FROM_STATEMENT
        else _arg(f"e_{name}", field, conn)
        for name, field in fields.items()
    ]
    # Only quoted names, code constants and argument names are formatted in; every value is
    # in the one JSON parameter, so that it is quoted once and the statement prepared once.
    table = qn(opts.db_table)
    update = (
        f"WITH p AS (SELECT %({_ARGS})s::jsonb AS j), "  # noqa: S608
        f"prev AS (SELECT t.{pk}, t.{status} FROM {table} AS t, p "
        f"WHERE t.{col('uuid')} = {arg('uuid', 'uuid')} FOR UPDATE OF t), "
        f"upd AS (UPDATE {table} AS c SET {', '.join(assignments)} FROM prev, p "
        f"WHERE {' AND '.join(conditions)} RETURNING {', '.join(returned)})"
    )
    insert = (
        f"INSERT INTO {qn(event_opts.db_table)} "  # noqa: S608
        f"({', '.join(qn(_column(f)) for f in fields.values())}) "
        f"SELECT {', '.join(inserted)} FROM upd, p"
    )
    if not with_call:
        return f"{update} {insert} RETURNING {event_pk}, {qn(_column(fields['old_status']))}"
    return (
        f"{update}, ins AS ({insert} RETURNING {event_pk}) "  # noqa: S608
        f"SELECT ins.{event_pk} AS {_EVENT_ID}, upd.* FROM upd, ins"
    )
