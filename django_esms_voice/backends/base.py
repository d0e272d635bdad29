"""What a backend is, and the base every backend inherits: the call defaults, applied once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from ..conf import voice_settings
from ..esms.payloads import Balance, CallRequest, CallResult, CallSubmission, RecordCallRequest


@runtime_checkable
class VoiceBackend(Protocol):
    """What the app needs from eSMS; every method raises the client's errors on failure."""

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Place a call (100), or recognise one already placed with this RequestId (124)."""

    def get_send_status(self, smsid: str) -> CallResult:
        """Return a call's current state; raise EsmsNotFoundYet (105) when eSMS does not know it."""

    def get_balance(self) -> Balance:
        """Return the account balance."""


def with_defaults(request: CallRequest) -> CallRequest:
    """Fill the options the caller left out with the ESMS_VOICE DEFAULT_* settings."""
    conf = voice_settings()
    fill: dict[str, Any]
    if isinstance(request, RecordCallRequest):
        fill = {
            "max_repeat": conf.default_max_repeat,
            "max_retry": conf.default_max_retry,
            "wait_retry": conf.default_wait_retry,
            "time_wait_to_ivr": conf.default_time_wait_to_ivr,
        }
    else:
        fill = {"voice": conf.default_voice, "speed": conf.default_speed}
    missing = {k: v for k, v in fill.items() if getattr(request, k) is None and v is not None}
    return replace(request, **missing) if missing else request


class BaseBackend:
    """A backend that sends every call with the ESMS_VOICE call defaults filled in.

    Subclasses implement ``send_call`` (the request as it leaves), ``get_send_status`` and
    ``get_balance``; ``make_call`` is the one place the defaults are applied.
    """

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Fill the call defaults, then send the call."""
        return self.send_call(with_defaults(request))

    def send_call(self, request: CallRequest) -> CallSubmission:
        """Send a call whose defaults are filled; 100 or 124, or raise the client's errors."""
        raise NotImplementedError(f"{type(self).__name__} must implement send_call()")

    def get_send_status(self, smsid: str) -> CallResult:
        """Return a call's current state; raise EsmsNotFoundYet (105) when eSMS does not know it."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_send_status()")

    def get_balance(self) -> Balance:
        """Return the account balance."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_balance()")
