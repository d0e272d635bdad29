"""The app's models: calls, campaigns, events, account pauses, spend-once keys, suppressions."""

from __future__ import annotations

from ..options import CallKind
from .account import AccountPause, ResumedBy
from .calls import VoiceCall, VoiceCallQuerySet
from .campaigns import Campaign, CampaignSource
from .events import CallbackEvent, EventOutcome, EventSource
from .idempotency import IdempotencyKey
from .suppression import Suppression, SuppressionReason

__all__ = [
    "AccountPause",
    "CallKind",
    "CallbackEvent",
    "Campaign",
    "CampaignSource",
    "EventOutcome",
    "EventSource",
    "IdempotencyKey",
    "ResumedBy",
    "Suppression",
    "SuppressionReason",
    "VoiceCall",
    "VoiceCallQuerySet",
]
