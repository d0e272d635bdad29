"""The locmem backend: every request kept in memory, answers from a script, like locmem mail."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..esms.payloads import Balance, CallRequest, CallResult, CallSubmission, normalize_smsid
from ..esms.protocol import (
    ACCEPTED,
    DUPLICATE_REQUEST,
    NOT_FOUND_YET,
    Answer,
    Endpoint,
    describe_code,
)
from ..exceptions import (
    EsmsApiError,
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsTimeout,
    EsmsTransportError,
    EsmsVoiceError,
    error_for_code,
)
from .base import BaseBackend

#: The transport failures a scripted answer can name, as the client raises them.
TRANSPORT_ERRORS: dict[str, Callable[[str], EsmsTransportError]] = {
    "timeout": lambda endpoint: EsmsTimeout("no answer within 30 s", endpoint=endpoint),
    "connection": lambda endpoint: EsmsConnectionError(
        "connection failed (ConnectionError)", endpoint=endpoint
    ),
    "http": lambda endpoint: EsmsHTTPError(
        "HTTP 503: 'Service Unavailable'", endpoint=endpoint, status_code=503
    ),
    "invalid": lambda endpoint: EsmsInvalidResponse(
        "the answer is not a JSON object: '<html>'", endpoint=endpoint
    ),
}


@dataclass
class ScriptedAnswer:
    """A scripted answer for the requests to one phone, for `times` requests (None: all)."""

    code: str = ACCEPTED
    error: str | EsmsVoiceError | type[EsmsVoiceError] | None = None
    times: int | None = None


@dataclass(frozen=True)
class ScriptedStatus:
    """A scripted GetSendStatus answer: a result, or a refusal code."""

    result: CallResult | None = None
    code: str = ACCEPTED


class LocmemState:
    """What every LocmemBackend instance shares: the outbox and the scripted answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outbox: list[CallRequest] = []
        self.answers: dict[str, list[ScriptedAnswer]] = {}
        self.statuses: dict[str, ScriptedStatus] = {}
        self.balance: Balance | str = Balance(balance=Decimal("1000000"), user_id="locmem")
        self.smsids: dict[str, str] = {}  # RequestId → the SMSID given the first time
        self.counter = itertools.count(1)

    def reset(self) -> None:
        """Empty the outbox (in place: imported references stay valid) and forget the scripts."""
        with self.lock:
            self.outbox.clear()
            self.answers.clear()
            self.statuses.clear()
            self.smsids.clear()
            self.balance = Balance(balance=Decimal("1000000"), user_id="locmem")


STATE = LocmemState()


def _refusal(code: str, endpoint: str) -> EsmsApiError:
    """Build the error the client raises for a refusal code, with the answer eSMS would give."""
    entry = describe_code(code)
    data: dict[str, Any] = {
        Answer.CODE_RESULT: entry.code,
        Answer.ERROR_MESSAGE: str(entry.description),
    }
    return error_for_code(entry.code, endpoint=endpoint, data=data)


def _raise_error(error: str | EsmsVoiceError | type[EsmsVoiceError], endpoint: str) -> None:
    """Raise a scripted transport error: a name from TRANSPORT_ERRORS, a class or an instance."""
    if isinstance(error, str):
        raise TRANSPORT_ERRORS[error](endpoint)
    if isinstance(error, type):
        if issubclass(error, EsmsTransportError):
            raise error("scripted failure", endpoint=endpoint)
        raise error("scripted failure")
    raise error


class LocmemBackend(BaseBackend):
    """Keeps every request in memory and answers from a script, like Django's locmem mail.

    By default every call is accepted (100) with a new SMSID; sending the same RequestId again
    answers 124, as eSMS does. ``django_esms_voice.testing`` has the helpers to script other
    answers and to read the outbox.
    """

    def send_call(self, request: CallRequest) -> CallSubmission:
        """Record the request, then answer what the script says for its phone."""
        endpoint = request.endpoint
        smsid: str | None = None
        with STATE.lock:
            STATE.outbox.append(request)
            answer = self._next_answer(request.phone)
            code = answer.code
            if answer.error is None and code == ACCEPTED:
                if request.request_id in STATE.smsids:
                    code = DUPLICATE_REQUEST  # eSMS already has a call with this RequestId
                else:
                    smsid = self._new_smsid()
                    if request.request_id:
                        STATE.smsids[request.request_id] = smsid
        if answer.error is not None:
            _raise_error(answer.error, endpoint)
        if code == DUPLICATE_REQUEST:  # 124 carries no SMSID
            return CallSubmission(
                code=code, smsid=None, request_id=request.request_id, already_received=True
            )
        if code != ACCEPTED:
            raise _refusal(code, endpoint)
        return CallSubmission(code=code, smsid=smsid, request_id=request.request_id)

    def get_send_status(self, smsid: str) -> CallResult:
        """Return the scripted result for this SMSID; 105 (not known yet) when none is."""
        smsid = normalize_smsid(smsid)
        status = STATE.statuses.get(smsid.lower())
        if status is None:
            raise _refusal(NOT_FOUND_YET, Endpoint.GET_SEND_STATUS)
        if status.result is None:
            raise _refusal(status.code, Endpoint.GET_SEND_STATUS)
        return status.result

    def get_balance(self) -> Balance:
        """Return the scripted balance (1,000,000 by default), or raise the scripted refusal."""
        balance = STATE.balance
        if isinstance(balance, str):
            raise _refusal(balance, Endpoint.GET_BALANCE)
        return balance

    @staticmethod
    def _next_answer(phone: str) -> ScriptedAnswer:
        """Take the answer scripted for a phone, using up one of its `times` (lock held)."""
        queue = STATE.answers.get(phone)
        if not queue:
            return ScriptedAnswer()
        answer = queue[0]
        if answer.times is not None:
            answer.times -= 1
            if answer.times <= 0:
                queue.pop(0)
        return answer

    @staticmethod
    def _new_smsid() -> str:
        """Return a fresh SMSID shaped like eSMS's (lock held)."""
        return f"locmem-{next(STATE.counter):06d}-{uuid.uuid4().hex[:12]}"
