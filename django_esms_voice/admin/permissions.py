"""Who may do what in the admin: seeing calls is free, placing them spends eSMS credit."""

from __future__ import annotations

from typing import Any

PLACE_PERMISSION = "esms_voice.place_voicecall"
ADD_PERMISSION = "esms_voice.add_voicecall"
REPROCESS_PERMISSION = "esms_voice.change_callbackevent"


def can_place_calls(user: Any) -> bool:
    """Whether the user may spend eSMS credit."""
    return bool(user.has_perm(PLACE_PERMISSION))


def can_see_calls(user: Any) -> bool:
    """Whether the user may look at voice calls (and so at their events)."""
    return bool(
        user.has_perm("esms_voice.view_voicecall") or user.has_perm("esms_voice.change_voicecall")
    )


def can_create_calls(user: Any) -> bool:
    """Whether the user may create calls and have them placed."""
    return bool(user.has_perm(PLACE_PERMISSION) and user.has_perm(ADD_PERMISSION))


def can_reprocess_events(user: Any) -> bool:
    """Whether the user may judge failed callback events again (a superuser has every right)."""
    return bool(user.has_perm(REPROCESS_PERMISSION))


RUN_CAMPAIGN_PERMISSION = "esms_voice.run_campaign"


def can_run_campaigns(user: Any) -> bool:
    """Whether the user may pause, resume and cancel campaigns (a superuser has every right)."""
    return bool(user.has_perm(RUN_CAMPAIGN_PERMISSION))


def can_see_campaigns(user: Any) -> bool:
    """Whether the user may look at campaigns: their own permission, or seeing their calls."""
    return bool(
        user.has_perm("esms_voice.view_campaign") or can_run_campaigns(user) or can_see_calls(user)
    )
