"""The app's models: calls, their callback events, and the spend-once keys."""

from __future__ import annotations

from ..options import CallKind
from .calls import VoiceCall, VoiceCallQuerySet
from .events import CallbackEvent, EventOutcome, EventSource
from .idempotency import IdempotencyKey

__all__ = [
    "CallKind",
    "CallbackEvent",
    "EventOutcome",
    "EventSource",
    "IdempotencyKey",
    "VoiceCall",
    "VoiceCallQuerySet",
]
