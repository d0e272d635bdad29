"""Have psycopg prepare the hot statements once per database session.

They are the callback fast path's statement, and the claim and the answer's UPDATE of every
placed call (services.claiming, services.call_updates). Django binds parameters on the
client and leaves psycopg's prepared statements off (``prepare_threshold = None``), so
PostgreSQL parses and plans every statement it receives. For the fast path's data-modifying
CTE that costs more server CPU (0.2-0.3 ms) than running it; placing a call cost
PostgreSQL 2.2 ms before, 0.9 ms after (bench/place_calls.py). Inside preparing(), the
connection's cursors bind on the server and ask psycopg to prepare what they execute
(``execute(..., prepare=True)``): psycopg keeps the statement per session and re-prepares
it after a DISCARD ALL, a rollback or a schema change it sees.

Nothing is prepared, and the statement runs as Django runs any other, when:

* the alias sets ``DISABLE_SERVER_SIDE_CURSORS``: Django's switch for a transaction-mode
  pooler (PgBouncer), where the next statement may run on a server session that never saw
  the preparation;
* ``OPTIONS["server_side_binding"]`` is on: psycopg then prepares as the alias's own
  ``prepare_threshold`` says;
* ``OPTIONS["prepare_threshold"]`` is set to None: prepared statements are refused;
* the driver is psycopg2, which has no such machinery.

On a connection whose ``prepare_threshold`` is None (Django's default) it is raised to
``sys.maxsize``: then psycopg prepares only what is asked for, and Django's own cursors,
which bind on the client, never prepare anything.

psycopg does not notice a statement that vanished behind its back (an undeclared pooler, a
DEALLOCATE it did not send) or that a migration in another process made stale ("cached plan
must not change result type"): it would run the dead one on every call. So when the
statement fails so, psycopg is told to forget what it prepared (it prepares again next
time), and one warning says what may be wrong. The failed callback itself takes the general
path and is not lost; a placement's statement runs again, unprepared (run()).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from . import pooled

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# SQLSTATEs of a prepared statement psycopg believes in and PostgreSQL does not:
# invalid_sql_statement_name (gone), feature_not_supported ("cached plan must not change
# result type": a column it returns changed since it was prepared).
LOST = frozenset({"26000", "0A000"})
_STALE_PLAN = "cached plan must not change result type"


def is_lost(exc: DatabaseError) -> bool:
    """Whether a statement failed because its prepared form is gone or stale (it never ran)."""
    return _is_lost_in_driver(exc.__cause__)


def _is_lost_in_driver(error: BaseException | None) -> bool:
    """is_lost() for psycopg's own error, before Django wraps it."""
    sqlstate = getattr(error, "sqlstate", None)
    # 0A000 is a whole class (feature not supported): only its stale-plan case counts.
    return sqlstate in LOST and (sqlstate != "0A000" or _STALE_PLAN in str(error))


def may_prepare(conn: BaseDatabaseWrapper) -> bool:
    """Say whether the alias's settings let the statement be prepared (see above)."""
    options = conn.settings_dict.get("OPTIONS", {})
    return (
        conn.vendor == "postgresql"
        and _preparing_cursor() is not None
        and not conn.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        and options.get("server_side_binding") is not True
        and options.get("prepare_threshold", 0) is not None
    )


@contextlib.contextmanager
def preparing(conn: BaseDatabaseWrapper) -> Iterator[None]:
    """Inside, the connection's new cursors have psycopg prepare what they run, if allowed."""
    if not may_prepare(conn):
        yield
        return
    conn.ensure_connection()
    raw = conn.connection
    _allow_preparing(raw)
    cursor = _preparing_cursor()
    if conn.queries_logged:
        cursor = _logged(cursor)
    factory, raw.cursor_factory = raw.cursor_factory, cursor
    try:
        yield  # Django wraps the cursors as always: errors, execute_wrapper, the query log
    except DatabaseError as exc:
        if is_lost(exc):
            _forget(conn.connection, conn.alias)
        raise
    finally:
        raw.cursor_factory = factory


def run(
    conn: BaseDatabaseWrapper, sql: str, params: Sequence[Any], read: Callable[[Any], _T]
) -> _T:
    """Execute a statement, prepared where allowed, and return `read(cursor)`.

    In a transaction nothing is prepared: a lost statement would abort the caller's
    transaction. In autocommit a statement PostgreSQL no longer has (is_lost) never ran, so
    it runs again, unprepared, and psycopg prepares it anew next time. Where Django would
    only connect and close around it, it runs on a connection borrowed from the pool
    (services.pg.pooled).
    """
    pool = pooled.borrowable(conn) if may_prepare(conn) else None
    lost = False
    if pool is not None:
        try:
            with pooled.borrowed(conn, pool) as raw:
                if raw is not None:
                    return _run_on(raw, conn.alias, sql, params, read)
        except DatabaseError as exc:
            if not is_lost(exc):
                raise
            lost = True
    if not lost and not conn.in_atomic_block and conn.get_autocommit():
        try:
            with preparing(conn), conn.cursor() as cursor:
                cursor.execute(sql, params)
                return read(cursor)
        except DatabaseError as exc:
            if not is_lost(exc):
                raise
    # As the ORM's update() does: a failure marks the caller's atomic block for rollback.
    with transaction.mark_for_rollback_on_error(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(sql, params)
        return read(cursor)


def _run_on(raw: Any, alias: str, sql: str, params: Sequence[Any], read: Callable[[Any], _T]) -> _T:
    """Execute a prepared statement on a psycopg connection (one lent by the pool)."""
    _allow_preparing(raw)
    try:
        with _preparing_cursor()(raw) as cursor:
            cursor.execute(sql, params)
            return read(cursor)
    except Exception as exc:
        if _is_lost_in_driver(exc):
            _forget(raw, alias)  # before the pool has the connection back
        raise


def _allow_preparing(raw: Any) -> None:
    """Let psycopg prepare what asks for it (prepare=True) on a connection that prepares nothing."""
    if raw.prepare_threshold is None:
        raw.prepare_threshold = sys.maxsize  # only what asks for it: Django's cursors never do


def _forget(raw: Any, alias: str) -> None:
    """Have psycopg forget the statements it prepared in this session, and say so once."""
    # psycopg has no public call for it; clear() also queues a DEALLOCATE ALL for its next run.
    manager = getattr(raw, "_prepared", None)
    if manager is not None:
        manager.clear()
    warn_lost(alias)


@functools.cache
def warn_lost(alias: str) -> None:
    """Warn, once per process and alias, that a prepared statement was lost."""
    logger.warning(
        "Database %r: a prepared eSMS voice statement vanished from its database session or "
        "went stale; it is prepared again. If it keeps happening, a transaction-mode pooler is in "
        "front: set DISABLE_SERVER_SIDE_CURSORS = True on this database.",
        alias,
    )


@functools.cache
def _preparing_cursor() -> Any:
    """Return Django's server-side binding cursor, asking psycopg to prepare; None: psycopg2."""
    from django.db.backends.postgresql import base

    server_binding: Any = getattr(base, "ServerBindingCursor", None)  # psycopg 3 only
    if server_binding is None:
        return None

    class PreparingCursor(server_binding):  # type: ignore[misc]  # a class the stubs lack
        """A cursor whose statements psycopg prepares on their first run in a session."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            """Execute as psycopg does, with prepare=True."""
            return super().execute(query, params, prepare=True, **kwargs)

    return PreparingCursor


@functools.cache
def _logged(cursor: Any) -> Any:
    """Return a preparing cursor whose statements Django's query log can read (DEBUG, tests)."""

    class LoggedPreparingCursor(cursor):  # type: ignore[misc]
        """Leave the statement where Django's last_executed_query() reads it."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            """Execute, then record the statement as a client-side binding cursor would."""
            try:
                return super().execute(query, params, **kwargs)
            finally:
                # psycopg sets _query only for a statement it does not prepare.
                self._query = self._convert_query(query, params)

    return LoggedPreparingCursor
