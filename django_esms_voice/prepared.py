"""Run the callback fast path's statement as a PostgreSQL prepared statement: planned once.

Django binds parameters on the client by default, so PostgreSQL parses and plans every
statement it receives. For the fast path's data-modifying CTE that costs more server CPU
(about 0.2-0.3 ms) than running it. Here the statement is PREPAREd once per database
session and EXECUTEd after that; the plan is PostgreSQL's to cache.

Not used, and the statement runs as before, when:

* the alias sets ``DISABLE_SERVER_SIDE_CURSORS``: Django's switch for a transaction-mode
  pooler (PgBouncer), where the next statement may run on a server session that never saw
  the PREPARE;
* ``OPTIONS["server_side_binding"]`` is on: psycopg then prepares statements itself, as its
  ``prepare_threshold`` says.

A prepared statement that vanishes anyway (a pooler the settings do not declare, a DISCARD
ALL), or that a migration made stale, is prepared again once; if that does not help, or
PREPARE fails, the alias runs unprepared for GIVE_UP_SECONDS, with one warning. The name is
a hash of the statement's text, so a session that already holds the name holds the same
statement.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_NOT_PREPARED = "26000"  # invalid_sql_statement_name: this session has no such statement
_ALREADY_PREPARED = "42P05"  # duplicate_prepared_statement: this session has it already
# feature_not_supported, as in "cached plan must not change result type": a migration changed
# a column the statement returns since it was prepared.
_PLAN_CHANGED = "0A000"
GIVE_UP_SECONDS = 600.0  # how long an alias runs unprepared after giving up, before a new try

# The statement names each database session (psycopg connection) has prepared.
_sessions: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_given_up: dict[str, float] = {}  # alias -> time.monotonic() until which it runs unprepared
_lock = threading.Lock()


def run(
    conn: BaseDatabaseWrapper,
    sql: str,
    params: Mapping[str, Any],
    execute: Callable[[str, Any], T],
) -> T:
    """Run `sql` (with %(name)s placeholders) through `execute`, prepared where possible."""
    if not _may_prepare(conn):
        return execute(sql, params)
    name, positional, order, call = _positional(sql)
    args = [params[key] for key in order]
    for _ in range(2):
        if not _prepare(conn, name, positional):
            return execute(sql, params)
        try:
            return execute(call, args)
        except DatabaseError as exc:
            state = _sqlstate(exc)
            if state not in (_NOT_PREPARED, _PLAN_CHANGED):
                raise
            _forget(conn, name, deallocate=state == _PLAN_CHANGED)  # prepare it again, once
    _give_up(conn, "the prepared statement was gone again (or stale) right after PREPARE")
    return execute(sql, params)


def _may_prepare(conn: BaseDatabaseWrapper) -> bool:
    """Whether this alias's settings allow our own PREPARE (see the module docstring)."""
    settings = conn.settings_dict
    return (
        _given_up.get(conn.alias, 0.0) <= time.monotonic()
        and not settings.get("DISABLE_SERVER_SIDE_CURSORS")
        and settings.get("OPTIONS", {}).get("server_side_binding") is not True
    )


def _prepare(conn: BaseDatabaseWrapper, name: str, positional: str) -> bool:
    """PREPARE the statement in this session unless it is there; False if that failed."""
    conn.ensure_connection()
    names = _prepared_names(conn)
    if name in names:
        return True
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"PREPARE {name} AS {positional}")
    except (OperationalError, InterfaceError):
        raise  # the database is unavailable: the caller answers 503
    except DatabaseError as exc:
        if _sqlstate(exc) != _ALREADY_PREPARED:
            _give_up(conn, f"PREPARE failed ({type(exc).__name__}: {exc})")
            return False
    names.add(name)
    return True


def _forget(conn: BaseDatabaseWrapper, name: str, *, deallocate: bool) -> None:
    """Forget that this session holds `name`, deallocating it first if it is stale."""
    _prepared_names(conn).discard(name)
    if deallocate:
        with conn.cursor() as cursor:
            cursor.execute(f"DEALLOCATE {name}")


def _prepared_names(conn: BaseDatabaseWrapper) -> set[str]:
    """Return the names prepared in the session behind this connection (a new one: none)."""
    with _lock:
        return _sessions.setdefault(conn.connection, set())


def _give_up(conn: BaseDatabaseWrapper, why: str) -> None:
    """Stop preparing on this alias for GIVE_UP_SECONDS, saying so once."""
    with _lock:
        if _given_up.get(conn.alias, 0.0) > time.monotonic():
            return
        _given_up[conn.alias] = time.monotonic() + GIVE_UP_SECONDS
    logger.warning(
        "Database %r: %s; the eSMS callback statement runs unprepared for the next %d "
        "minutes. Behind a transaction-mode pooler, set DISABLE_SERVER_SIDE_CURSORS = True "
        "on this database.",
        conn.alias,
        why,
        GIVE_UP_SECONDS // 60,
    )


def _sqlstate(exc: BaseException) -> str | None:
    """Return PostgreSQL's SQLSTATE of a Django database error (the driver's is its cause).

    psycopg 3 calls it ``sqlstate``, psycopg2 ``pgcode``.
    """
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


@functools.cache
def _positional(sql: str) -> tuple[str, str, tuple[str, ...], str]:
    """Return (name, sql with $1…$n, parameter names in $ order, EXECUTE) for one statement."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    positional = _PLACEHOLDER.sub(number, sql)
    name = "esms_voice_" + hashlib.sha256(positional.encode()).hexdigest()[:20]
    call = f"EXECUTE {name}({', '.join(['%s'] * len(order))})" if order else f"EXECUTE {name}"
    return name, positional, tuple(order), call


def forget_sessions() -> None:
    """Forget which sessions prepared what and which aliases gave up (tests)."""
    with _lock:
        _sessions.clear()
        _given_up.clear()
