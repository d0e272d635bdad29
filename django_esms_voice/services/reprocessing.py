"""Reprocess failed callback events: judge a stored delivery again and record it on its event.

An event stored "error" (applying it failed: a bug, a value or a trigger the database refused)
or "invalid" is read again from its raw as it was read when it arrived (a callback's query by
deliveries.read_delivery, a poll's answer by payloads.parse_status_answer) and judged by
record_result's general path (results.reapply_result), which updates the event's own row. A
result applied since, by the same delivery sent again, is a duplicate: the call's fingerprints
know it. An event already processed is left alone, so reprocessing twice changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, models, transaction
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..esms.payloads import CallResult, MalformedResult, parse_status_answer
from ..models import CallbackEvent, EventOutcome, EventSource, VoiceCall
from ..states import status_label
from .deliveries import read_delivery
from .results import MAX_RAW_LENGTH, REJUDGED_FIELDS, reapply_result

logger = logging.getLogger(__name__)

#: The outcomes `esms_voice_reprocess --failed` selects.
FAILED = frozenset({EventOutcome.ERROR, EventOutcome.INVALID})
#: The outcomes reprocess_event takes: the failed ones, and an event never processed.
REPROCESSABLE = FAILED | {EventOutcome.RECEIVED}


class NotReprocessable(Exception):
    """An event that cannot be judged again: `label` for counts, `reason` a sentence."""

    def __init__(self, label: str | Promise, reason: str) -> None:
        super().__init__(reason)
        self.label, self.reason = label, reason


@dataclass(frozen=True)
class Entry:
    """One event of a run: its outcome before, the fields that changed, or why it was skipped."""

    event: CallbackEvent
    was: str
    changed: tuple[str, ...] = ()
    skipped: NotReprocessable | None = None
    dry_run: bool = False

    def __str__(self) -> str:
        """One line for the operator: what became of the event (never its raw)."""
        head = _("Event %(id)s (call %(call)s)") % {
            "id": self.event.pk,
            "call": self.event.call_id or "-",
        }
        if self.skipped is not None:
            return _("%(event)s: skipped, %(reason)s") % {"event": head, "reason": self.skipped}
        was, now = outcome_label(self.was), outcome_label(self.event.outcome)
        if self.dry_run:
            return _("%(event)s: %(outcome)s, would be reprocessed") % {
                "event": head,
                "outcome": was,
            }
        line = f"{head}: {was} → {now}"
        if self.event.old_status != self.event.new_status:
            old, new = status_label(self.event.old_status), status_label(self.event.new_status)
            line += " " + _("(status %(old)s → %(new)s)") % {"old": old, "new": new}
        if self.event.outcome in FAILED and self.event.error:
            line += f": {self.event.error}"  # stored redacted: no token, no key
        return line


@dataclass
class ReprocessReport:
    """What a run did, event by event, oldest first."""

    entries: list[Entry] = field(default_factory=list)
    dry_run: bool = False

    @property
    def reprocessed(self) -> list[Entry]:
        return [e for e in self.entries if e.skipped is None]

    @property
    def skipped(self) -> list[Entry]:
        return [e for e in self.entries if e.skipped is not None]

    @property
    def succeeded(self) -> bool:
        """Whether every event was reprocessed and none is still "error" or "invalid"."""
        reprocessed = self.reprocessed
        return (
            bool(reprocessed)
            and not self.skipped
            and not any(e.event.outcome in FAILED for e in reprocessed)
        )

    def outcomes(self) -> Counter[str]:
        """How many reprocessed events ended with each outcome."""
        return Counter(e.event.outcome for e in self.reprocessed)

    def __str__(self) -> str:
        """Say what happened in one sentence: counts by new outcome, and skips by reason."""
        count = len(self.reprocessed)
        if self.dry_run:
            parts = [
                ngettext(
                    "%(count)d event would be reprocessed",
                    "%(count)d events would be reprocessed",
                    count,
                )
                % {"count": count}
            ]
        else:
            done = ngettext("%(count)d event reprocessed", "%(count)d events reprocessed", count)
            parts = [done % {"count": count}]
            if count:
                counts = sorted(self.outcomes().items(), key=lambda item: -item[1])
                outcomes = ", ".join(f"{outcome_label(o)}: {n}" for o, n in counts)
                parts[0] += f" ({outcomes})"
        labels = Counter(str(e.skipped.label) for e in self.skipped if e.skipped is not None)
        if labels:
            reasons = ", ".join(f"{label} ({n})" for label, n in labels.items())
            total = labels.total()
            skipped = ngettext(
                "%(count)d skipped: %(reasons)s", "%(count)d skipped: %(reasons)s", total
            )
            parts.append(skipped % {"count": total, "reasons": reasons})
        return "; ".join(parts) + "."


def outcome_label(outcome: str) -> str:
    """Return an outcome's label in the user's language (the value itself if unknown)."""
    try:
        return str(EventOutcome(outcome).label)
    except ValueError:
        return outcome


def failed_events() -> models.QuerySet[CallbackEvent]:
    """The events worth reprocessing: stored "error" or "invalid"."""
    return CallbackEvent.objects.filter(outcome__in=FAILED)


_NO_CALL = gettext_lazy("no call")


def stored_delivery(event: CallbackEvent) -> tuple[CallResult | None, str]:
    """Read an event's raw as it was read on arrival: (result, "") or (None, why unreadable).

    NotReprocessable when it cannot be read as it arrived, or the event has no call left.
    """
    call_uuid = event.call_id
    if call_uuid is None:
        raise NotReprocessable(_NO_CALL, _("the call was deleted."))
    if event.source == EventSource.POLL:
        return _stored_answer(event, call_uuid)
    if event.method.upper() == "POST":
        # The view stores a POST as query and body, but not the body's Content-Type, which
        # chose its parser (form or JSON): it cannot be read again exactly as it arrived.
        raise NotReprocessable(
            gettext_lazy("POST delivery"),
            _("a POST delivery: the type of its body was not stored, so it cannot be read again."),
        )
    if len(event.raw) >= MAX_RAW_LENGTH:
        raise NotReprocessable(
            gettext_lazy("cut short"),
            _("the stored delivery was cut at %(limit)d characters.") % {"limit": MAX_RAW_LENGTH},
        )
    return read_delivery(event.raw)  # a GET's raw is its whole query string


def _stored_answer(event: CallbackEvent, call_uuid: uuid.UUID) -> tuple[CallResult | None, str]:
    """Read a poll's stored GetSendStatus answer (JSON) as the client read it."""
    try:
        data: Any = json.loads(event.raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise NotReprocessable(
            gettext_lazy("not a JSON answer"),
            _("the stored poll answer is not a JSON object."),
        )
    smsid = VoiceCall.objects.filter(uuid=call_uuid).values_list("smsid", flat=True).first()
    try:
        return parse_status_answer(data, smsid or ""), ""
    except MalformedResult as exc:
        return None, str(exc)


def check_event(event: CallbackEvent) -> tuple[CallResult | None, str]:
    """Return what reprocessing would judge; NotReprocessable if it would skip the event."""
    if event.outcome not in REPROCESSABLE:
        raise NotReprocessable(
            gettext_lazy("already processed"),
            _("already processed (%(outcome)s): only failed events are reprocessed.")
            % {"outcome": outcome_label(event.outcome)},
        )
    return stored_delivery(event)


def reprocess_event(event: CallbackEvent) -> CallbackEvent:
    """Judge a failed event's stored delivery again; return it with its new outcome.

    NotReprocessable (nothing written) for an event already processed, without a call, or
    whose raw cannot be read as it arrived. An error while applying is recorded on the event
    (outcome "error") and logged; a lost database connection is raised, nothing written.
    """
    return _reprocess(event.pk).event


def _reprocess(pk: int) -> Entry:
    """Reprocess one event under its row lock, so that two runs cannot judge it twice."""
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update().filter(pk=pk).first()
        if event is None:
            raise NotReprocessable(gettext_lazy("deleted"), _("the event no longer exists."))
        was = event.outcome
        before = [getattr(event, name) for name in REJUDGED_FIELDS]
        result, error = check_event(event)
        try:
            done = reapply_result(event, result, error=error)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # recorded on the event by reapply_result: report it, go on
            # The stored error, redacted; not the traceback, whose text may hold a token.
            logger.error("Reprocessing callback event %s failed: %s", pk, event.error)
            done = event
        if done is None:
            raise NotReprocessable(_NO_CALL, _("the call was deleted."))
    after = [getattr(done, name) for name in REJUDGED_FIELDS]
    changed = tuple(
        n for n, old, new in zip(REJUDGED_FIELDS, before, after, strict=True) if old != new
    )
    return Entry(done, was, changed)


def reprocess_events(
    events: models.QuerySet[CallbackEvent],
    *,
    dry_run: bool = False,
    progress: Callable[[Entry], None] | None = None,
) -> ReprocessReport:
    """Reprocess these events one by one, oldest first, each in its own transaction.

    With `dry_run`, nothing is written: the report says which would be reprocessed. `progress`
    is called with each event's entry as it is done.
    """
    report = ReprocessReport(dry_run=dry_run)
    ids = list(events.order_by("received_at", "pk").values_list("pk", flat=True))
    for pk in ids:
        entry = _dry_run(pk) if dry_run else _skipping(pk)
        if entry is None:
            continue  # deleted meanwhile: nothing to say about it
        report.entries.append(entry)
        if progress is not None:
            progress(entry)
    return report


def _skipping(pk: int) -> Entry | None:
    """Reprocess one event; an entry saying why when it is skipped, None if it is gone."""
    try:
        return _reprocess(pk)
    except NotReprocessable as exc:
        event = CallbackEvent.objects.filter(pk=pk).first()
        return None if event is None else Entry(event, event.outcome, skipped=exc)


def _dry_run(pk: int) -> Entry | None:
    """Say what reprocessing one event would do, writing nothing; None if it is gone."""
    event = CallbackEvent.objects.filter(pk=pk).first()
    if event is None:
        return None
    try:
        check_event(event)
    except NotReprocessable as exc:
        return Entry(event, event.outcome, skipped=exc, dry_run=True)
    return Entry(event, event.outcome, dry_run=True)
