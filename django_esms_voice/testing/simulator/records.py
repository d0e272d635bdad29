"""What the simulator is told (Outcome, Script) and what it records (requests, calls, callbacks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocol import (
    CALLBACK_MODES,
    FAILURE_KINDS,
    MAKE_CALL_RECORD,
    SEND_STATUS_FINISHED,
    SEND_STATUS_SENT,
    masked,
)


@dataclass
class Outcome:
    """The final result of a call, as eSMS reports it."""

    call_status: str = "ANSWERED"
    sent_result: int = 1
    duration: int = 13
    ivr: str = ""
    price: str = "500.0000"

    @classmethod
    def answered(cls, *, ivr: str = "", duration: int = 13, price: str = "500.0000") -> Outcome:
        """Return a call the listener picked up."""
        return cls("ANSWERED", 1, duration, ivr, price)

    @classmethod
    def no_answer(cls) -> Outcome:
        """Return a call nobody picked up."""
        return cls("NO ANSWER", 1, 0, "", "0.0000")

    @classmethod
    def failed(cls) -> Outcome:
        """Return a call the carrier never placed."""
        return cls("", 0, 0, "", "0.0000")

    @property
    def status_call_status(self) -> str:
        """Return CallStatus as GetSendStatus spells it."""
        # The status endpoint documents "NOANSWERED" where callbacks send "NO ANSWER".
        return "NOANSWERED" if self.call_status == "NO ANSWER" else self.call_status


@dataclass
class Script:
    """What the simulator does with the calls to one phone."""

    outcome: Outcome = field(default_factory=Outcome.answered)
    reject_code: str | None = None
    failures: list[str] = field(default_factory=list)
    latency: float = 0.0
    callbacks: str = "normal"
    progress_callback: bool = False

    def __post_init__(self) -> None:
        """Refuse unknown failure kinds and callback modes."""
        unknown = [kind for kind in self.failures if kind not in FAILURE_KINDS]
        if unknown:
            raise ValueError(f"unknown failure kinds {unknown}; use {sorted(FAILURE_KINDS)}")
        if self.callbacks not in CALLBACK_MODES:
            raise ValueError(f"unknown callbacks mode {self.callbacks!r}; use {CALLBACK_MODES}")


@dataclass
class ReceivedRequest:
    """One request the simulator received, and how it answered."""

    endpoint: str
    params: dict[str, str] = field(repr=False)
    received_at: float
    code: str | None = None
    failure: str | None = None

    @property
    def request_id(self) -> str | None:
        """Return the partner's RequestId, spelled as the endpoint spells it."""
        key = "RequestID" if self.endpoint == MAKE_CALL_RECORD else "RequestId"
        return self.params.get(key) or None

    @property
    def safe_params(self) -> dict[str, str]:
        """Return the params with ApiKey and SecretKey masked."""
        return masked(self.params)


@dataclass
class SimulatedCall:
    """A call the simulator accepted."""

    smsid: str
    request_id: str | None
    phone: str
    endpoint: str
    params: dict[str, str] = field(repr=False)
    callback_url: str | None = field(repr=False)
    script: Script
    accepted_at: float
    final_at: float | None = None

    @property
    def outcome(self) -> Outcome:
        """Return the final result this call will report."""
        return self.script.outcome

    def status_answer(self, now: float) -> dict[str, Any]:
        """Return GetSendStatus's answer for this call at monotonic time `now`."""
        outcome = self.outcome
        final = self.final_at is not None and now >= self.final_at
        # Numbers come as JSON numbers here (strings elsewhere) and the id comes upper-case.
        return {
            "CallDuration": outcome.duration if final else 0,
            "CallStatus": outcome.status_call_status if final else "",
            "CodeResponse": "100",
            "Ivr": outcome.ivr if final else "",
            "ReferenceId": self.smsid.upper(),
            "SendStatus": SEND_STATUS_FINISHED if final else SEND_STATUS_SENT,
            "SentResult": outcome.sent_result if final else 1,
        }


@dataclass
class CallbackDelivery:
    """One attempt at delivering a callback."""

    smsid: str
    url: str = field(repr=False)
    params: dict[str, str]
    attempt: int
    sent_at: float
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 200."""
        return self.status == 200


class ScriptBook:
    """The scripts per phone and per rule, and how many scripted failures each phone used."""

    def __init__(self) -> None:
        """Start with no scripts: every phone gets the simulator's default."""
        self._scripts: dict[str, Script] = {}
        self._rules: list[tuple[Callable[[str], bool], Script]] = []
        self._consumed: dict[str, tuple[Script, int]] = {}

    def set(self, phone: str, script: Script) -> None:
        """Script the calls to one phone (national form)."""
        self._scripts[phone] = script

    def add_rule(self, predicate: Callable[[str], bool], script: Script) -> None:
        """Script the calls to every phone the predicate accepts, after the phones' own."""
        self._rules.append((predicate, script))

    def clear(self) -> None:
        """Forget every script, rule and used failure."""
        self._scripts.clear()
        self._rules.clear()
        self._consumed.clear()

    def find(self, phone: str, default: Script) -> Script:
        """Return a phone's script: its own, else the first matching rule, else the default."""
        if phone in self._scripts:
            return self._scripts[phone]
        for predicate, script in self._rules:
            if predicate(phone):
                return script
        return default

    def next_failure(self, phone: str, script: Script) -> str | None:
        """Consume the next scripted failure for this phone, if any is left."""
        used_script, used = self._consumed.get(phone, (script, 0))
        if used_script is not script:
            used = 0
        if used >= len(script.failures):
            return None
        self._consumed[phone] = (script, used + 1)
        return script.failures[used]


OUTCOMES: dict[str, Callable[[], Outcome]] = {
    "answered": Outcome.answered,
    "no_answer": Outcome.no_answer,
    "failed": Outcome.failed,
}
