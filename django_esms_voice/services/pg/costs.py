"""The total price of a campaign's billed calls: one value a query computes once.

A sum per billed status over a range of esms_voice_campaign_outcomes (campaign, status,
completed_at, price), read index-only. The LATERAL join makes it one scan per status, so
PostgreSQL weighs a range of the index against a scan of the whole table per status and
takes the range; asked as one sum over the campaign it scanned the whole table when the
campaign was most of it (a price cannot be deduplicated: this index stays large).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models.expressions import RawSQL

from ...models import VoiceCall

SQL = """(
    SELECT SUM(x.cost) FROM unnest(%s::text[]) AS b (status)
    CROSS JOIN LATERAL (
        SELECT SUM(c.price) AS cost FROM {table} AS c
        WHERE c.campaign_id = %s AND c.status = b.status AND c.completed_at IS NOT NULL
    ) AS x
)"""


class BilledCost(RawSQL):
    """The sum of the prices of a campaign's calls in `statuses` (billed calls have ended)."""

    def __init__(self, campaign_id: int, statuses: Sequence[str]) -> None:
        price = VoiceCall._meta.get_field("price")
        table = VoiceCall._meta.db_table
        super().__init__(
            SQL.format(table=f'"{table}"'), (list(statuses), campaign_id), output_field=price
        )

    def get_group_by_cols(self) -> list[Any]:
        """Nothing: the value does not depend on the row (Django would group by it)."""
        return []
