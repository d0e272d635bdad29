"""One call's UPDATE by key and status, built once per shape: the writes of every placement.

``VoiceCall.objects.filter(pk=..., status__in=...).update(**values)`` compiles the same
statement again at every call, and that compiling was a tenth of a worker's CPU per placed
call. Here the SQL is built once per set of columns and number of statuses, each value is
prepared by its field as the ORM's update() would, and on PostgreSQL psycopg prepares the
statement once per database session (services.pg.prepared). Plain values only: no F() or
other expression (the ORM's update() is for those).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

from django.db import connections, router
from django.db.models import Field

from ..models import VoiceCall
from .pg import prepared


def update_call(call_id: int, values: Mapping[str, Any], statuses: Collection[str]) -> int:
    """Write `values` (field name → value) to the call if its status is one of `statuses`.

    Returns the number of rows changed: 1, or 0 when the call is gone or in another status.
    """
    if not statuses:
        return 0  # no status to be in: nothing to change (SQL has no empty IN list)
    db = router.db_for_write(VoiceCall)
    conn = connections[db]
    names = tuple(values)
    sql = _update_sql(db, names, len(statuses))
    fields = _fields()
    params = [fields[name].get_db_prep_save(values[name], conn) for name in names]
    params += [call_id, *sorted(statuses)]
    return prepared.run(conn, sql, params, lambda cursor: int(cursor.rowcount))


@functools.cache
def _update_sql(db: str, names: tuple[str, ...], statuses: int) -> str:
    """Return the UPDATE of these columns, for one call by key and by status."""
    qn = connections[db].ops.quote_name
    opts = VoiceCall._meta
    assignments = ", ".join(f"{qn(str(_fields()[n].column))} = %s" for n in names)
    status = qn(str(opts.get_field("status").column))
    return (
        f"UPDATE {qn(opts.db_table)} SET {assignments} "  # noqa: S608 - quoted names only
        f"WHERE {qn(str(opts.pk.column))} = %s AND {status} IN ({', '.join(['%s'] * statuses)})"
    )


@functools.cache
def _fields() -> dict[str, Field[Any, Any]]:
    """Return the call's concrete fields by name."""
    return {f.name: f for f in VoiceCall._meta.concrete_fields}
