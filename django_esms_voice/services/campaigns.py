"""Campaigns: make one for many calls, pause, resume and cancel it, complete it when done.

A pause holds every pending call of the campaign in the same transaction (VoiceCall.hold),
and the claim refuses a held call: a worker whose claim races the pause either claimed the
call before the pause committed (it was in flight already) or finds it held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import options
from ..conf import voice_settings
from ..exceptions import CampaignStateError
from ..models import Campaign, CampaignSource, VoiceCall
from ..policies import check_campaign_open
from ..states import (
    CANCELABLE_CAMPAIGNS,
    CLAIMABLE,
    NOT_FINAL,
    PAUSABLE_CAMPAIGNS,
    RESUMABLE_CAMPAIGNS,
    CampaignState,
    Hold,
)
from .canceling import cancel_calls
from .enqueueing import enqueue_calls, is_urgent

#: The states each action moves a campaign from (states.py).
ALLOWED: dict[str, frozenset[str]] = {
    "pause": PAUSABLE_CAMPAIGNS,
    "resume": RESUMABLE_CAMPAIGNS,
    "cancel": CANCELABLE_CAMPAIGNS,
}

#: What each action says when the campaign's state does not allow it (admin, API, code).
REFUSALS = {
    "pause": _("Only a running campaign can be paused; this one is “%(state)s”."),
    "resume": _("Only a paused campaign can be resumed; this one is “%(state)s”."),
    "cancel": _("Only a running or paused campaign can be canceled; this one is “%(state)s”."),
}

#: What a campaign does not record as shared: what differs from call to call.
PER_CALL = frozenset({"phone", "variables", "metadata", "batch", "kind", "template_id"})


def create_campaign(
    *,
    name: str,
    kind: str,
    template_id: str = "",
    options: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    created_by: Any = None,
    source: str = CampaignSource.CODE,
    frequency_cap: int | None = None,
) -> Campaign:
    """Save a running campaign; its calls are created with it (services.create_calls)."""
    return Campaign.objects.create(
        name=name[:100],
        kind=kind,
        template_id=template_id,
        options=dict(options or {}),
        purpose=purpose or voice_settings().default_purpose,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        source=source,
        frequency_cap=frequency_cap,
    )


def shared_options(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the options every row has with the same value: what the campaign says."""
    if not rows:
        return {}
    first = rows[0]
    # A blank value (no voice, no forward number) is no option: the campaign does not say it.
    names = [
        n for n in options.NAMES if n not in PER_CALL and options.BY_NAME[n].is_set(first.get(n))
    ]
    return {n: first[n] for n in names if all(row.get(n) == first[n] for row in rows)}


def lock_for_new_calls(campaign: Campaign) -> Campaign:
    """Lock a campaign that calls are being added to, and reopen it if it had completed.

    Inside the creating transaction: a pause waits for the new calls (and holds them), and a
    pause that committed first is seen here, so the new calls are created held.
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    check_campaign_open(locked)
    if locked.state == CampaignState.COMPLETED:
        locked.state, locked.finished_at = CampaignState.RUNNING, None
        locked.save(update_fields=["state", "finished_at", "updated_at"])
    campaign.state, campaign.finished_at = locked.state, locked.finished_at
    return locked


def lock_states(campaign_ids: Iterable[int | None], *, skip_locked: bool = False) -> dict[int, str]:
    """Lock the campaigns of calls going back to pending, and return their states.

    Inside the releasing transaction: a pause or cancel of the campaign either committed
    first and is seen here, or waits for the release and then holds or cancels the call.
    skip_locked leaves out a campaign being paused, for a caller holding other call rows.
    """
    ids = sorted({pk for pk in campaign_ids if pk is not None})
    if not ids:
        return {}
    locked = Campaign.objects.select_for_update(no_key=True, skip_locked=skip_locked)
    return dict(locked.filter(pk__in=ids).order_by("pk").values_list("pk", "state"))


def allows(campaign: Campaign, action: str) -> bool:
    """Whether the campaign's state (as last read) allows the action: which buttons to show."""
    return campaign.state in ALLOWED[action]


def refusal(campaign: Campaign, action: str) -> CampaignStateError | None:
    """The error the action meets in the campaign's state (as last read), or None if allowed."""
    return None if allows(campaign, action) else _refused(campaign, action)


def _refused(campaign: Campaign, action: str) -> CampaignStateError:
    """The error saying that the campaign's state does not allow the action."""
    message = REFUSALS[action] % {"state": campaign.get_state_display()}
    return CampaignStateError(action, campaign.state, message)


def _move(campaign: Campaign, action: str, **changes: Any) -> None:
    """Apply `changes` to the campaign if its state allows the action; else refuse.

    One conditional UPDATE: a concurrent pause, resume or cancel either committed first (this
    one moves nothing and is refused) or waits for this one's transaction.
    """
    moved = Campaign.objects.filter(pk=campaign.pk, state__in=ALLOWED[action]).update(**changes)
    if not moved:
        campaign.refresh_from_db(fields=["state"])
        raise _refused(campaign, action)


def pause_campaign(campaign: Campaign, *, now: dt.datetime | None = None) -> int:
    """Pause a running campaign: hold every call not sent yet; return how many were held.

    Raises CampaignStateError when the campaign is not running.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _move(campaign, "pause", state=CampaignState.PAUSED, paused_at=now, updated_at=now)
        # A call waiting for its calling window waits for the resume too (then for the window).
        held = VoiceCall.objects.filter(
            campaign=campaign, status__in=CLAIMABLE, hold__in=[Hold.NONE, Hold.CALLING_WINDOW]
        ).update(hold=Hold.CAMPAIGN_PAUSED, updated_at=now)
    campaign.state, campaign.paused_at = CampaignState.PAUSED, now
    return held


def resume_campaign(campaign: Campaign, *, now: dt.datetime | None = None) -> int:
    """Resume a paused campaign: release its held calls and enqueue them; return how many.

    Raises CampaignStateError when the campaign is not paused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _move(campaign, "resume", state=CampaignState.RUNNING, paused_at=None, updated_at=now)
        ids = _release_held(campaign, now)
    campaign.state, campaign.paused_at = CampaignState.RUNNING, None
    return len(ids)


def _release_held(campaign: Campaign, now: dt.datetime) -> list[int]:
    """Release the campaign's held calls and enqueue them once the transaction commits."""
    held = VoiceCall.objects.filter(campaign=campaign, hold=Hold.CAMPAIGN_PAUSED)
    locked = dict(held.select_for_update().values_list("pk", "status"))
    VoiceCall.objects.filter(pk__in=locked).update(hold=Hold.NONE, updated_at=now)
    # Only those still waiting: a cancel has just canceled the others.
    ids = [pk for pk, status in locked.items() if status in CLAIMABLE]
    transaction.on_commit(lambda: enqueue_calls(ids, urgent=is_urgent(campaign.purpose)))
    return ids


def cancel_campaign(campaign: Campaign, *, now: dt.datetime | None = None) -> int:
    """Cancel a campaign: every call never sent is canceled, sent ones finish; return how many.

    A pending call that was attempted already may be with eSMS (its answer was lost): it is
    released and resent with its RequestId, never canceled (states.cancelable). Raises
    CampaignStateError when the campaign is completed or canceled already.
    """
    now = now or timezone.now()
    with transaction.atomic():
        _move(campaign, "cancel", state=CampaignState.CANCELED, finished_at=now, updated_at=now)
        canceled = cancel_calls(VoiceCall.objects.filter(campaign=campaign))
        _release_held(campaign, now)
    campaign.state, campaign.finished_at = CampaignState.CANCELED, now
    return len(canceled)


def complete_campaigns(
    *, now: dt.datetime | None = None, campaign_ids: Iterable[int] | None = None
) -> int:
    """Mark running campaigns whose calls are all final as completed; return how many.

    The one home of the rule. The sweep runs it for every campaign; the admin's campaign list
    and page run it before they show campaigns (the page for its own, `campaign_ids`), so that
    a campaign whose last call has ended reads completed there at once, while the callback
    and placement paths pay no query for it.
    """
    now = now or timezone.now()
    # Open: not final, named positively, so that the campaign/status index finds one at once.
    open_calls = VoiceCall.objects.filter(campaign=OuterRef("pk"), status__in=NOT_FINAL)
    done = Campaign.objects.filter(state=CampaignState.RUNNING).filter(~Exists(open_calls))
    if campaign_ids is not None:
        done = done.filter(pk__in=sorted(set(campaign_ids)))
    # Mostly none is done: one read, no transaction. A done one is then locked and asked again.
    if not (candidates := list(done.values_list("pk", flat=True))):
        return 0
    done = done.filter(pk__in=candidates)
    with transaction.atomic():
        # One that calls are being added to is locked (lock_for_new_calls): left for the next
        # sweep. The others are asked again once locked, seeing calls committed meanwhile.
        ids = list(done.select_for_update(skip_locked=True).values_list("pk", flat=True))
        if not ids:
            return 0
        return done.filter(pk__in=ids).update(
            state=CampaignState.COMPLETED, finished_at=now, updated_at=now
        )
