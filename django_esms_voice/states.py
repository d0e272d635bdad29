"""Call statuses and every move between them: eSMS's results, claim, release, cancel, retry.

decide() judges what eSMS reports; the named source sets are what the conditional UPDATEs
in services/ filter on; advance_writes() is what a result that moves its call on writes,
applied in Python by the general path and built into SQL by the PostgreSQL fast path.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import models
from django.db.models.functions import Coalesce, Greatest
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
#: Calls still open: not final (a campaign with none left is completed).
NOT_FINAL = frozenset(set(CallStatus.values) - FINAL)
#: Calls eSMS placed and bills for: a result came, or "unknown" (charged, no Price reported).
BILLABLE = frozenset(RESULTS | {CallStatus.UNKNOWN})
#: Calls the sweep may poll: eSMS has them and no final result has come.
AWAITING_RESULT = frozenset({CallStatus.ACCEPTED, CallStatus.IN_PROGRESS})
#: Calls a retry may copy: eSMS refused them, or we gave up sending them. Not "unknown":
#: eSMS placed and charged that one, a retry would ring the number twice.
RETRYABLE = frozenset({CallStatus.REJECTED, CallStatus.ERROR})
#: Calls that went, or are going, to the number: what a frequency cap counts.
REACHING = frozenset(
    {CallStatus.SUBMITTING, CallStatus.ACCEPTED, CallStatus.IN_PROGRESS, *BILLABLE}
)
#: Calls a worker may claim (→ submitting): waiting to be sent.
CLAIMABLE = frozenset({CallStatus.PENDING})
#: Claimed calls, being sent: placing moves them on (accepted, rejected, error) or releases
#: them back to pending for another attempt; the sweep releases one whose worker died.
CLAIMED = frozenset({CallStatus.SUBMITTING})
#: Calls an operator may cancel: not sent yet (and never attempted: see cancelable()).
CANCELABLE = frozenset({CallStatus.PENDING})
#: Calls a status refresh (the admin's, refresh_statuses) asks eSMS about, given an SMSID
#: (refreshable()): eSMS has them and no result is stored. A call with a final one is not asked
#: again; services.refresh_status() still asks about any one call, and may correct its result.
REFRESHABLE = frozenset({*AWAITING_RESULT, CallStatus.UNKNOWN})


class Hold(models.TextChoices):
    """Why a pending call may not be claimed now; blank: it may."""

    NONE = "", _("Not held")
    CAMPAIGN_PAUSED = "campaign_paused", _("Its campaign is paused")
    CALLING_WINDOW = "calling_window", _("Waiting for the calling window")


class CampaignState(models.TextChoices):
    """Where a campaign is: its calls are placed only while it runs."""

    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELED = "canceled", _("Canceled")


#: Campaigns a pause may move (→ paused), a resume (→ running), a cancel (→ canceled).
PAUSABLE_CAMPAIGNS = frozenset({CampaignState.RUNNING})
RESUMABLE_CAMPAIGNS = frozenset({CampaignState.PAUSED})
CANCELABLE_CAMPAIGNS = frozenset({CampaignState.RUNNING, CampaignState.PAUSED})
#: Campaigns whose calls may still be open: a sweep completes them once none is.
OPEN_CAMPAIGNS = frozenset({CampaignState.RUNNING, CampaignState.PAUSED})


def hold_for(campaign_state: str | None) -> str:
    """Return the hold a new call of a campaign in this state gets (blank: none)."""
    return Hold.CAMPAIGN_PAUSED if campaign_state == CampaignState.PAUSED else Hold.NONE


def released(campaign_state: str | None, attempts: int) -> tuple[str, str]:
    """Return the status and hold of a claimed call given back to wait for another attempt.

    Its campaign may have been paused or canceled while it was in flight: it waits held, or,
    never taken by eSMS (attempts 0) in a canceled campaign, is canceled as the cancel would
    have done.
    """
    if campaign_state == CampaignState.CANCELED and can_cancel(CallStatus.PENDING, attempts):
        return CallStatus.CANCELED, Hold.NONE
    return CallStatus.PENDING, hold_for(campaign_state)


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
    """What decide() says about an incoming status."""

    verdict: Verdict


def decide(current: str, incoming: str, *, authoritative: bool = False) -> Decision:
    """Decide what an incoming status does to a call: the only place this rule lives."""
    if incoming == current:
        return Decision(Verdict.SAME)
    if incoming == CallStatus.CANCELED:
        # Only a call not sent yet can be canceled.
        return Decision(Verdict.ADVANCE if current in CANCELABLE else Verdict.STALE)
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


# ----------------------------------------------------------------------------- operator moves


def cancelable() -> models.Q:
    """Select the calls cancel may move: pending and never attempted.

    A pending call with attempts went back to pending after a timeout: eSMS may already have
    it and ring, so canceling it would hide the result eSMS reports.
    """
    return models.Q(status__in=CANCELABLE, attempts=0)


def can_cancel(status: str, attempts: int) -> bool:
    """Say whether cancel may move a call: what cancelable() selects, for one call."""
    return status in CANCELABLE and attempts == 0


def can_retry(status: str, *, retried: bool) -> bool:
    """Say whether a call may be placed again: refused or given up, and once only.

    A second retry of the same call would ring the number once more for one request.
    """
    return status in RETRYABLE and not retried


def refreshable() -> models.Q:
    """Select the calls a status refresh may ask eSMS about: awaiting a result, with an SMSID.

    GetSendStatus takes the SMSID: a call accepted through 124 has none until a callback
    brings its ReferenceId.
    """
    return models.Q(status__in=REFRESHABLE) & ~models.Q(smsid="")


def can_refresh(status: str, smsid: str) -> bool:
    """Say whether a status refresh may ask about a call: what refreshable() selects, for one."""
    return status in REFRESHABLE and bool(smsid)


def result_due_since() -> Greatest:
    """When a call's result became due: eSMS took it (else it was created), or its send_at.

    The sweep polls and gives up by it; the admin's "no result after" filter lists by it.
    """
    taken = Coalesce("submitted_at", "created_at")
    return Greatest(taken, Coalesce("send_at", taken))


# ----------------------------------------------------------------------------- column writes


class How(enum.Enum):
    """How a status move writes a column."""

    SET = "set"  # the value
    FILL = "fill"  # the value if the column is empty (None or ""), else what it holds
    APPEND = "append"  # the column (a JSON list) with the value added, the last `kept` kept


class _Now:
    """The time of the write, in whichever path makes it (a marker)."""

    def __repr__(self) -> str:
        return "NOW"


NOW = _Now()


class Write(NamedTuple):
    """One column written by a move: how, and with what (NOW: the time of the write)."""

    how: How
    value: Any
    kept: int = 0

    def applied(self, current: Any, now: Any) -> Any:
        """Return the column's new value, given what it holds and the time of the write."""
        value = now if self.value is NOW else self.value
        if self.how is How.FILL:
            return value if current in (None, "") else current
        if self.how is How.APPEND:
            return [*current, value][-self.kept :]
        return value


def seen_writes(*, fingerprint: str, reference: str, kept: int) -> dict[str, Write]:
    """What every judged result writes, whatever its verdict: it was seen, for this call.

    Its fingerprint joins the call's last `kept` ones (a repeat is then a duplicate), and a
    call accepted through 124, which carries no SMSID, adopts the ReferenceId.
    """
    writes = {"event_fingerprints": Write(How.APPEND, fingerprint, kept)}
    if reference:
        writes["smsid"] = Write(How.FILL, reference)
    return writes


def advance_writes(incoming: str, values: Mapping[str, Any]) -> dict[str, Write]:
    """What a result that moves its call to `incoming` writes: the one table of it.

    `values` are the result columns it carries. An advance means eSMS has the call: a call
    revived from "error" is open again (or final now), its last error no longer describes
    it, and it was submitted by now.
    """
    return {
        **{name: Write(How.SET, value) for name, value in values.items()},
        "status": Write(How.SET, incoming),
        "completed_at": Write(How.SET, NOW if incoming in FINAL else None),
        "last_error_code": Write(How.SET, ""),
        "last_error_message": Write(How.SET, ""),
        "submitted_at": Write(How.FILL, NOW),
        "updated_at": Write(How.SET, NOW),
    }


def apply_writes(call: Any, writes: Mapping[str, Write], now: Any) -> list[str]:
    """Make the writes on a call in memory; return the columns written."""
    for name, write in writes.items():
        setattr(call, name, write.applied(getattr(call, name), now))
    return list(writes)
