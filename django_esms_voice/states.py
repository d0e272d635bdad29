"""Call statuses, their order, which are final, and the one rule that decides an update."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .esms.payloads import CallResult
from .esms.protocol import SEND_STATUS_ORDER, CallOutcome, SendStatus, SentResult, call_outcome


class CallStatus(models.TextChoices):
    """Where a call is in its life."""

    PENDING = "pending", _("Pending")
    SUBMITTING = "submitting", _("Submitting")
    ACCEPTED = "accepted", _("Accepted by eSMS")
    IN_PROGRESS = "in_progress", _("In progress")
    ANSWERED = "answered", _("Answered")
    NO_ANSWER = "no_answer", _("No answer")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected by eSMS")
    ERROR = "error", _("Error")
    CANCELED = "canceled", _("Canceled")
    #: eSMS accepted (and charged) the call but no result came within RESULT_TIMEOUT.
    UNKNOWN = "unknown", _("Charged, result unknown")


RANK: dict[str, int] = {
    CallStatus.PENDING: 0,
    CallStatus.SUBMITTING: 1,
    CallStatus.ACCEPTED: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.ANSWERED: 4,
    CallStatus.NO_ANSWER: 4,
    CallStatus.FAILED: 4,
    CallStatus.REJECTED: 4,
    CallStatus.ERROR: 4,
    CallStatus.CANCELED: 4,
    CallStatus.UNKNOWN: 4,
}
#: What eSMS reports as the end of a call.
RESULTS = frozenset({CallStatus.ANSWERED, CallStatus.NO_ANSWER, CallStatus.FAILED})
FINAL = frozenset(
    RESULTS | {CallStatus.REJECTED, CallStatus.ERROR, CallStatus.CANCELED, CallStatus.UNKNOWN}
)
#: Calls eSMS placed and bills for: a result came, or "unknown" (charged, no Price reported).
BILLABLE = frozenset(RESULTS | {CallStatus.UNKNOWN})
#: Calls the sweep may poll: eSMS has them and no final result has come.
AWAITING_RESULT = frozenset({CallStatus.ACCEPTED, CallStatus.IN_PROGRESS})
#: Calls a retry may copy: eSMS refused them, or we gave up sending them. Not "unknown":
#: eSMS placed and charged that one, a retry would ring the number twice.
RETRYABLE = frozenset({CallStatus.REJECTED, CallStatus.ERROR})

#: Our status for what eSMS's CallStatus says about a finished call (esms.protocol's table).
OUTCOME_STATUSES: dict[CallOutcome, CallStatus] = {
    CallOutcome.ANSWERED: CallStatus.ANSWERED,
    CallOutcome.NO_ANSWER: CallStatus.NO_ANSWER,
}


def status_for_result(result: CallResult) -> CallStatus | None:
    """Map SendStatus/CallStatus/SentResult to a call status; None when they say nothing known."""
    if result.send_status in (SendStatus.WAITING, SendStatus.SENT):
        return CallStatus.IN_PROGRESS
    if result.send_status != SendStatus.FINISHED:
        return None
    status = OUTCOME_STATUSES.get(call_outcome(result.call_status))
    if status is not None:
        return status
    if result.sent_result == SentResult.FAILED and not result.call_status:
        return CallStatus.FAILED
    return None


class Verdict(enum.StrEnum):
    """What an incoming status does to a call."""

    ADVANCE = "advance"  # moves the call forward
    SAME = "same"  # the status the call already has: merge late fields, else a duplicate
    STALE = "stale"  # behind the call's status (a late in-progress): recorded, ignored
    CONFLICT = "conflict"  # another final result from a callback: recorded, not applied
    CORRECTION = "correction"  # another final result from an authoritative status poll


@dataclass(frozen=True)
class Decision:
    """The verdict and whether the status column changes."""

    verdict: Verdict

    @property
    def changes_status(self) -> bool:
        """Whether the call's status column is rewritten."""
        return self.verdict in (Verdict.ADVANCE, Verdict.CORRECTION)


def decide(current: str, incoming: str, *, authoritative: bool = False) -> Decision:
    """Decide what an incoming status does to a call: the only place this rule lives."""
    if incoming == current:
        return Decision(Verdict.SAME)
    if incoming == CallStatus.CANCELED and current != CallStatus.PENDING:
        return Decision(Verdict.STALE)  # only a call not sent yet can be canceled
    if incoming == CallStatus.UNKNOWN:
        # The sweep's give-up: only a call eSMS accepted and never reported on.
        return Decision(Verdict.ADVANCE if current in AWAITING_RESULT else Verdict.STALE)
    if current == CallStatus.ERROR and RANK[incoming] >= RANK[CallStatus.ACCEPTED]:
        # "error" means we gave up not knowing whether eSMS got the call: eSMS's word wins.
        return Decision(Verdict.ADVANCE)
    if current == CallStatus.UNKNOWN and incoming in RESULTS:
        # We stopped waiting, eSMS had the call all along: its late result completes it.
        return Decision(Verdict.ADVANCE)
    if incoming in (CallStatus.REJECTED, CallStatus.ERROR) and current in AWAITING_RESULT:
        return Decision(Verdict.STALE)  # eSMS has the call: it was neither refused nor lost
    if current in RESULTS and incoming in RESULTS:
        return Decision(Verdict.CORRECTION if authoritative else Verdict.CONFLICT)
    if current in FINAL or RANK[incoming] <= RANK[current]:
        return Decision(Verdict.STALE)
    return Decision(Verdict.ADVANCE)


def send_status_order(current: int | None, incoming: int | None) -> int:
    """Compare an in-progress report with the stored one: -1 older (7 then 2), 0, 1 newer."""
    # 2 "waiting to send" comes before 7 "sent, waiting for the report", which comes before 5.
    if current is None or incoming is None or current == incoming:
        return 0
    order = SEND_STATUS_ORDER
    if current not in order or incoming not in order:
        return 0
    return 1 if order.index(incoming) > order.index(current) else -1


@dataclass(frozen=True)
class Merge:
    """What a result with the call's own status does to the call's result fields."""

    verdict: Verdict  # SAME (write `values`; none: a duplicate), STALE, CONFLICT or CORRECTION
    values: Mapping[str, Any]  # the fields to write
    differing: Mapping[str, tuple[Any, Any]]  # stored and incoming value of each contradicted one


def merge(
    stored: Mapping[str, Any], incoming: Mapping[str, Any], *, authoritative: bool = False
) -> Merge:
    """Merge a result into a call with its status: fill what the call lacks, never overwrite.

    Both map result columns to values. A later in-progress report (SendStatus 2, then 7) is
    newer and applies, an earlier one is stale. Otherwise a value that differs from a stored
    one is a conflict, not applied, unless an authoritative poll says it: a correction.
    """
    order = send_status_order(stored.get("send_status"), incoming.get("send_status"))
    if order < 0:
        return Merge(Verdict.STALE, {}, {})
    new = {name: value for name, value in incoming.items() if stored.get(name) != value}
    if order > 0:
        return Merge(Verdict.SAME, new, {})
    if stored.get("call_status"):
        new.pop("call_status", None)  # the same status: only another spelling ("NOANSWERED")
    differing = {n: (stored[n], v) for n, v in new.items() if stored.get(n) not in (None, "")}
    if not differing:
        return Merge(Verdict.SAME, new, {})
    if not authoritative:
        return Merge(Verdict.CONFLICT, {}, differing)
    return Merge(Verdict.CORRECTION, new, differing)


def status_label(value: str) -> str:
    """Return a status's human label; an unknown value is shown as it is."""
    return str(CallStatus(value).label) if value in CallStatus.values else value


@functools.cache
def sources_for(incoming: str) -> frozenset[str]:
    """Return the statuses from which `incoming` is an advance (for conditional UPDATEs)."""
    return frozenset(s for s in CallStatus.values if decide(s, incoming).verdict is Verdict.ADVANCE)
