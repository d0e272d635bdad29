"""What the operator is told: calls and objects grouped by why they are skipped, in few words."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Count
from django.utils.functional import Promise
from django.utils.translation import ngettext

from ..models import VoiceCall
from ..states import status_label

#: Calls listed by name on a confirmation page, per group; the rest are counted.
SHOWN_PER_GROUP = 20


@dataclass
class Group:
    """Calls or objects sharing one reason to be skipped (or one fate), with a few named."""

    label: str | Promise
    reason: str | Promise
    count: int = 0
    shown: list[Any] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.shown)


def count_in(
    groups: dict[str, Group], key: str, label: str | Promise, reason: str | Promise, item: Any
) -> None:
    """Count an item in its group, naming it while the group is short."""
    group = groups.setdefault(key, Group(label=label, reason=reason))
    group.count += 1
    if len(group.shown) < SHOWN_PER_GROUP:
        group.shown.append(item)


def skipped_text(groups: Iterable[Group]) -> str:
    """Say how many were skipped and why: "2 skipped: invalid phone number"."""
    groups = [g for g in groups if g.count]
    total = sum(g.count for g in groups)
    if not total:
        return ""
    labels: Counter[str] = Counter()
    for group in groups:
        labels[str(group.label)] += group.count
    if len(labels) == 1:
        reasons = next(iter(labels))
    else:
        reasons = ", ".join(f"{label} ({count})" for label, count in labels.items())
    return ngettext("%(count)d skipped: %(reasons)s", "%(count)d skipped: %(reasons)s", total) % {
        "count": total,
        "reasons": reasons,
    }


def sentence(*parts: str) -> str:
    """Join the parts of a message that say something."""
    return ", ".join(part for part in parts if part) + "."


def queued_text(count: int) -> str:
    """Say how many calls were queued: "12 calls queued"."""
    return ngettext("%(count)d call queued", "%(count)d calls queued", count) % {"count": count}


def status_groups(
    queryset: models.QuerySet[VoiceCall], label: str | Promise, reason: str
) -> list[Group]:
    """Group calls by status, reason being a format with %(status)s; a few named per group."""
    counts = queryset.order_by().values_list("status").annotate(n=Count("pk"))
    groups = []
    for status, count in sorted(counts):
        display = status_label(status)
        shown = list(queryset.filter(status=status)[:SHOWN_PER_GROUP])
        groups.append(Group(label, reason % {"status": display}, count, shown))
    return groups
