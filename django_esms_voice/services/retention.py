"""Retention (Decree 13/2023/ND-CP): empty old events' raw text, anonymise old finished calls.

Each chunk is its own short transaction: a chunk of primary keys is picked from a partial
index of the rows not purged yet (so a second run reads nothing it already did), locked with
SKIP LOCKED (a callback holding a call's lock is never waited for: its row is left for the
next run), then updated by primary key. No statement ever touches more than one chunk.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Concat, Greatest, Length, Repeat, Right
from django.utils import timezone
from django.utils.translation import gettext as _

from ..conf import voice_settings
from ..models import CallbackEvent, VoiceCall
from ..states import FINAL

logger = logging.getLogger(__name__)

PURGE_CHUNK_SIZE = 5000
#: What a masked phone number starts with: a call whose phone starts so is anonymised.
MASK = "*"
#: How many trailing digits of a phone number an anonymised call keeps.
KEPT_DIGITS = 3
#: The kinds of rows a purge handles, as progress reports name them.
EVENTS = "events"
CALLS = "calls"

#: progress(kind, rows in this chunk, rows so far for this kind)
Progress = Callable[[str, int, int], None]


@dataclass
class PurgeReport:
    """What a purge did (or, in a dry run, would do)."""

    events: int = 0
    calls: int = 0
    chunks: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        text = _("%(events)d callback events emptied, %(calls)d calls anonymised") % {
            "events": self.events,
            "calls": self.calls,
        }
        return _("%(text)s (dry run: nothing changed)") % {"text": text} if self.dry_run else text


def unpurged_events() -> Q:
    """Events still holding their raw text or sender address (the esms_voice_event_raw index)."""
    return ~Q(raw="") | Q(remote_addr__isnull=False)


def unanonymised_calls() -> Q:
    """Ended calls whose phone is not masked yet (the esms_voice_call_identified index)."""
    return Q(completed_at__isnull=False) & ~Q(phone__startswith=MASK)


def masked(field: str) -> Any:
    """SQL masking a phone column to its last digits: 0901888484 → *******484 (same length)."""
    stars = Greatest(Length(field) - KEPT_DIGITS, Value(1))  # always a leading mask
    return Concat(Repeat(Value(MASK), stars), Right(field, KEPT_DIGITS))


def mask_phone(phone: str) -> str:
    """Mask a phone number in Python exactly as masked() does in SQL (tests, docs)."""
    return MASK * max(len(phone) - KEPT_DIGITS, 1) + phone[-KEPT_DIGITS:]


def _event_candidates(cutoff: dt.datetime) -> QuerySet[CallbackEvent]:
    """Events received before the cutoff that still hold raw text or an address."""
    return CallbackEvent.objects.filter(unpurged_events(), received_at__lt=cutoff)


def _call_candidates(cutoff: dt.datetime) -> QuerySet[VoiceCall]:
    """Final calls that ended before the cutoff and are not anonymised yet."""
    return VoiceCall.objects.filter(
        unanonymised_calls(), status__in=sorted(FINAL), completed_at__lt=cutoff
    )


def _empty_events(pks: list[int]) -> None:
    """Forget the raw text and sender address of these events."""
    CallbackEvent.objects.filter(pk__in=pks).update(raw="", remote_addr=None)


def _anonymise_calls(pks: list[int]) -> None:
    """Mask the numbers of these calls and empty their variables and metadata."""
    VoiceCall.objects.filter(pk__in=pks).update(
        phone=masked("phone"),
        number_forward=Case(
            When(number_forward="", then=Value("")), default=masked("number_forward")
        ),
        variables=[],
        metadata={},
    )


def _in_chunks(
    kind: str,
    candidates: QuerySet[Any],
    order: str,
    apply: Callable[[list[int]], None],
    chunk_size: int,
    progress: Progress | None,
    report: PurgeReport,
) -> int:
    """Purge the candidates chunk by chunk, walking the index by `order`; return the count."""
    done = 0
    floor: dt.datetime | None = None
    while True:
        with transaction.atomic():
            chunk = candidates if floor is None else candidates.filter(**{f"{order}__gte": floor})
            rows = list(
                chunk.order_by(order)
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", order)[:chunk_size]
            )
            if rows:
                apply([pk for pk, _ in rows])
        if not rows:
            return done
        # Purged rows leave the partial index; the floor skips the dead entries they left.
        floor = rows[-1][1]
        done += len(rows)
        report.chunks += 1
        logger.info("eSMS voice purge: %d %s in this chunk, %d so far", len(rows), kind, done)
        if progress is not None:
            progress(kind, len(rows), done)
        if len(rows) < chunk_size:
            return done


def purge(
    now: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    chunk_size: int = PURGE_CHUNK_SIZE,
    progress: Progress | None = None,
) -> PurgeReport:
    """Apply EVENT_RAW_RETENTION and CALL_ANONYMISE_AFTER once; a kind left at None is kept."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    now = now or timezone.now()
    conf = voice_settings()
    report = PurgeReport(dry_run=dry_run)
    if conf.event_raw_retention is not None:
        events = _event_candidates(now - dt.timedelta(seconds=conf.event_raw_retention))
        report.events = (
            events.count()
            if dry_run
            else _in_chunks(
                EVENTS, events, "received_at", _empty_events, chunk_size, progress, report
            )
        )
    if conf.call_anonymise_after is not None:
        calls = _call_candidates(now - dt.timedelta(seconds=conf.call_anonymise_after))
        report.calls = (
            calls.count()
            if dry_run
            else _in_chunks(
                CALLS, calls, "completed_at", _anonymise_calls, chunk_size, progress, report
            )
        )
    logger.info(
        "eSMS voice purge%s: %d events emptied, %d calls anonymised",
        " (dry run)" if dry_run else "",
        report.events,
        report.calls,
    )
    return report


def retention_enabled() -> bool:
    """Whether either retention setting is set: otherwise a purge has nothing to do."""
    conf = voice_settings()
    return conf.event_raw_retention is not None or conf.call_anonymise_after is not None


__all__ = [
    "PURGE_CHUNK_SIZE",
    "PurgeReport",
    "mask_phone",
    "purge",
    "retention_enabled",
]
