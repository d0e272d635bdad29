"""A campaign's ended calls counted per outcome and stretch of time: its timeline's bars.

One count per (stretch, outcome), each a range of the esms_voice_campaign_outcomes index
(campaign, status, completed_at, …) read index-only: no expression per row and no hash of
the rows by bar, which PostgreSQL would plan for as many bars as calls (one per moment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connections

from ...models import VoiceCall

SQL = """
SELECT b.i - 1, s.status, (
    SELECT COUNT(*) FROM {table} AS c
    WHERE c.campaign_id = %s AND c.status = s.status
      AND c.completed_at >= b.lo AND c.completed_at < b.hi
)
FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b (lo, hi, i)
CROSS JOIN unnest(%s::text[]) AS s (status)
"""


def outcome_counts(
    campaign_id: int, bounds: Sequence[dt.datetime], outcomes: Iterable[str], *, using: str
) -> list[tuple[int, str, int]]:
    """Count the calls that ended between each two bounds, by outcome: (bar, outcome, n) rows."""
    connection = connections[using]
    sql = SQL.format(table=connection.ops.quote_name(VoiceCall._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, list(bounds[:-1]), list(bounds[1:]), list(outcomes)])
        return [(int(bar), status, int(n)) for bar, status, n in cursor.fetchall()]
