"""Judge a result against its call in memory: applied, merged, duplicate, stale or conflicting."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext as _

from ..esms.payloads import CallResult, normalize_smsid
from ..models import EventOutcome, VoiceCall
from ..states import (
    CallStatus,
    Verdict,
    advance_writes,
    apply_writes,
    decide,
    merge,
    seen_writes,
    status_for_result,
    status_label,
)

#: How many fingerprints of applied results a call keeps, to recognise a repeated delivery.
FINGERPRINTS_KEPT = 20


def result_fingerprint(result: CallResult) -> str:
    """Return a short hash of a result's fields, to recognise a delivery seen before."""
    fields = (
        result.reference_id.lower(), result.send_status, result.call_status,
        result.call_duration, result.ivr, result.sent_result, result.price, result.cid,
    )  # fmt: skip
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


#: A result's attribute → the call column it fills.
RESULT_FIELDS = {
    "send_status": "send_status",
    "call_status": "call_status",
    "call_duration": "duration",
    "ivr": "ivr_pressed",
    "sent_result": "sent_result",
    "price": "price",
    "cid": "cid",
}


#: What an in-progress report (SendStatus 2 or 7) says about the call; the rest is not known yet.
IN_PROGRESS_FIELDS = frozenset({"send_status", "sent_result", "cid"})


def result_values(result: CallResult) -> dict[str, Any]:
    """Return the call columns a result fills, leaving out what it does not carry."""
    values = {column: getattr(result, attr) for attr, column in RESULT_FIELDS.items()}
    if status_for_result(result) == CallStatus.IN_PROGRESS:
        # eSMS fills CallDuration=0 and Price=0.0000 before the call has ended: placeholders,
        # which would later read as a result that a final report contradicts.
        values = {k: v for k, v in values.items() if k in IN_PROGRESS_FIELDS}
    return {k: v for k, v in values.items() if v not in (None, "")}


def judge(
    call: VoiceCall, result: CallResult, *, authoritative: bool
) -> tuple[str, list[str], str]:
    """Decide an event's outcome and change the call in memory; return the fields changed.

    The third value, when not empty, says which stored values a conflict or correction met.
    """
    fingerprint = result_fingerprint(result)
    # A poll is judged on its merits: it may correct what an identical callback could not.
    if fingerprint in call.event_fingerprints and not authoritative:
        return EventOutcome.DUPLICATE, [], ""
    reference = normalize_smsid(result.reference_id)
    if reference and call.smsid and reference.lower() != call.smsid.lower():
        return EventOutcome.MISMATCH, [], ""
    incoming = status_for_result(result)
    if incoming is None:
        return EventOutcome.INVALID, [], ""
    now = timezone.now()
    seen = seen_writes(fingerprint=fingerprint, reference=reference, kept=FINGERPRINTS_KEPT)
    changed = apply_writes(call, seen, now)
    verdict = decide(call.status, incoming, authoritative=authoritative).verdict
    if verdict is Verdict.STALE:
        return EventOutcome.OUT_OF_ORDER, changed, ""
    values = result_values(result)
    if verdict is Verdict.SAME:
        return _merge(call, values, authoritative=authoritative, changed=changed)
    late = {name: value for name, value in values.items() if getattr(call, name) != value}
    note = ""
    if verdict in (Verdict.CONFLICT, Verdict.CORRECTION):
        differing = {name: (getattr(call, name), value) for name, value in late.items()}
        note = _differences(differing, status=(call.status, incoming))
        if verdict is Verdict.CONFLICT:
            return EventOutcome.CONFLICT, changed, _not_applied(note)
    changed += apply_writes(call, advance_writes(incoming, values), now)
    if verdict is Verdict.CORRECTION:
        return EventOutcome.CORRECTED, changed, _corrected(note)
    return EventOutcome.APPLIED, changed, ""


def _merge(
    call: VoiceCall, values: dict[str, Any], *, authoritative: bool, changed: list[str]
) -> tuple[str, list[str], str]:
    """Apply a result with the call's own status as states.merge says (fill, never overwrite)."""
    stored = {name: getattr(call, name) for name in RESULT_FIELDS.values()}
    merged = merge(stored, values, authoritative=authoritative)
    if merged.verdict is Verdict.STALE:
        return EventOutcome.OUT_OF_ORDER, changed, ""
    note = _differences(merged.differing)
    if merged.verdict is Verdict.CONFLICT:
        return EventOutcome.CONFLICT, changed, _not_applied(note)
    for name, value in merged.values.items():
        setattr(call, name, value)
    changed.extend(merged.values)
    if merged.verdict is Verdict.CORRECTION:
        return EventOutcome.CORRECTED, changed, _corrected(note)
    return (EventOutcome.MERGED if merged.values else EventOutcome.DUPLICATE), changed, ""


def _differences(
    differing: Mapping[str, tuple[Any, Any]], *, status: tuple[str, str] | None = None
) -> str:
    """Say which stored values a result contradicts, "label: stored → incoming", for the event."""
    parts = []
    if status is not None:
        parts.append(f"{_label('status')}: {status_label(status[0])} → {status_label(status[1])}")
    for name, (stored, value) in differing.items():
        if name != "call_status" or status is None:  # the status says it, in the app's words
            parts.append(f"{_label(name)}: {_shown(stored)} → {_shown(value)}")
    return "; ".join(parts)


def _not_applied(differences: str) -> str:
    """The event's note for a conflict: what it contradicts, and that nothing was applied."""
    return _("Not applied, differs from the call: %s") % differences


def _corrected(differences: str) -> str:
    """The event's note for a correction: what the poll replaced."""
    return _("Corrected by a status poll: %s") % differences


def _label(name: str) -> str:
    """Return a call column's translated label."""
    field = VoiceCall._meta.get_field(name)
    return str(field.verbose_name) if isinstance(field, Field) else name


def _shown(value: Any) -> str:
    """Show a result value in a note; nothing as a dash."""
    return "-" if value in (None, "") else str(value)
