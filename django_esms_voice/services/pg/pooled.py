"""Run a hot statement on a connection borrowed straight from the alias's psycopg pool.

A worker gives its connection back around every HTTP wait (services.placing), so each
placed call took a connection twice through Django's connect() and close(): they rebuild
the connection parameters, send connection_created and reset the wrapper's state, and
Django's cursor wrapper adds its own layers to the statement. Borrowing the connection from
the pool Django made (Django 5.1+, ``OPTIONS["pool"]``) for the claim and for the answer
costs 14 µs instead of 52, and the statement 47 µs instead of 79: about 0.15 ms of worker
CPU per placed call (docs/benchmarks.md, issue 14).

Only where Django would add nothing a caller can see: Django's own PostgreSQL backend, not
a subclass; the thread holds no Django connection and is in no atomic block; AUTOCOMMIT is
on; the query log is off (DEBUG, ``assertNumQueries``); no ``execute_wrapper`` is installed
and Django's cursor methods are Django's own (a host's instrumentation, which must see every
statement). Anywhere else the statement runs through Django's connection, as before
(services.pg.prepared.run). So does a statement the pool would lend a connection Django
never handed out: that one has not been through ``connection_created``, whose receivers may
set what the statement needs (a search_path, a statement_timeout). Django's own path sends
the signal when it takes such a connection from the pool, and from then on it is lent.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorWrapper

# Django's own backend: a subclass (a multi-tenant schema switcher, a query counter) may do
# its work in connect() or in its cursors, which borrowing would skip.
_DJANGO_POSTGRESQL = "django.db.backends.postgresql.base"

# The psycopg connections Django has handed out, so connection_created's receivers ran on them.
_HANDED_OUT: weakref.WeakSet[Any] = weakref.WeakSet()


def _note_handed_out(sender: object, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """Remember a connection Django handed out (a receiver of connection_created)."""
    # Only psycopg's are lent, and only they can be weakly referenced (not sqlite3's).
    if connection.vendor == "postgresql" and connection.connection is not None:
        with contextlib.suppress(TypeError):  # psycopg2's: never lent either
            _HANDED_OUT.add(connection.connection)


connection_created.connect(_note_handed_out, dispatch_uid="esms_voice.pooled.handed_out")


def borrowable(conn: BaseDatabaseWrapper) -> Any | None:
    """Return the alias's open psycopg pool when a statement may bypass Django (see above)."""
    if (
        type(conn).__module__ != _DJANGO_POSTGRESQL
        or conn.connection is not None
        or conn.in_atomic_block
        or conn.execute_wrappers
        or _cursor_patched()
        or conn.queries_logged
        or not conn.settings_dict["AUTOCOMMIT"]
    ):
        return None
    pool = getattr(conn, "pool", None)  # Django 5.1+'s PostgreSQL backend only
    if pool is None or pool.closed:
        return None  # a closed pool is opened by Django's own connect()
    return pool


def _cursor_patched() -> bool:
    """Whether a tool replaced Django's cursor methods to see every statement (Sentry's SDK)."""
    execute = CursorWrapper.execute
    # Sentry's wrapper keeps Django's name and module (functools.wraps), and its __wrapped__.
    return hasattr(execute, "__wrapped__") or execute.__module__ != CursorWrapper.__module__


@contextlib.contextmanager
def borrowed(conn: BaseDatabaseWrapper, pool: Any) -> Iterator[Any | None]:
    """Lend a pooled connection for one statement, with Django's errors, as Django's cursor.

    None when Django never handed that connection out: the caller runs the statement through
    Django then. The connection goes back to the pool in every case. It reads times as
    Django's own connections do: Django builds the pool with them, and makes a new pool when
    USE_TZ or TIME_ZONE changes.
    """
    with conn.wrap_database_errors, pool.connection() as raw:
        yield raw if raw in _HANDED_OUT else None
