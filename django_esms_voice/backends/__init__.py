"""How calls leave the process: the real HTTP backend, and a locmem backend for tests.

A backend has three methods, the three things the app asks eSMS: place a call, ask for a
call's state, read the balance. ``ESMS_VOICE["BACKEND"]`` names the class; ``get_backend()``
returns the configured instance. The services never talk to the client directly, so a test
settings file can swap eSMS for ``LocmemBackend`` and assert against its outbox.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Protocol, runtime_checkable

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .conf import voice_settings
from .esms.client import _ERROR_CLASSES, EsmsVoiceClient, get_client
from .esms.payloads import (
    Balance,
    CallRequest,
    CallResult,
    CallSubmission,
    RecordCallRequest,
    normalize_smsid,
)
from .esms.protocol import ACCEPTED, DUPLICATE_REQUEST, NOT_FOUND_YET, describe_code
from .exceptions import (
    EsmsApiError,
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsRejected,
    EsmsTimeout,
    EsmsTransportError,
    EsmsVoiceError,
)

HTTP_BACKEND = "django_esms_voice.backends.HttpBackend"
LOCMEM_BACKEND = "django_esms_voice.backends.LocmemBackend"


@runtime_checkable
class VoiceBackend(Protocol):
    """What the app needs from eSMS; every method raises the client's errors on failure."""

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Place a call (100), or recognise one already placed with this RequestId (124)."""

    def get_send_status(self, smsid: str) -> CallResult:
        """Return a call's current state; raise EsmsNotFoundYet (105) when eSMS does not know it."""

    def get_balance(self) -> Balance:
        """Return the account balance."""


def endpoint_for(request: CallRequest) -> str:
    """Return the eSMS endpoint a request goes to."""
    return "MakeCallRecord_V2" if isinstance(request, RecordCallRequest) else "MakeCallTemplate_V2"


class HttpBackend:
    """The real thing: the pooled EsmsVoiceClient built from ESMS_VOICE."""

    def __init__(self, client: EsmsVoiceClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> EsmsVoiceClient:
        """Return the given client, else the shared one (rebuilt when ESMS_VOICE changes)."""
        return self._client if self._client is not None else get_client()

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Send the request to the endpoint its kind belongs to."""
        if isinstance(request, RecordCallRequest):
            return self.client.make_record_call(request)
        return self.client.make_template_call(request)

    def get_send_status(self, smsid: str) -> CallResult:
        """Ask GetSendStatus."""
        return self.client.get_send_status(smsid)

    def get_balance(self) -> Balance:
        """Ask GetBalance_json."""
        return self.client.get_balance()


# ----------------------------------------------------------------------------- locmem

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
    """Build the error the client raises for a refusal code, through the code table."""
    entry = describe_code(code)
    error_class = _ERROR_CLASSES.get(entry.kind, EsmsRejected)
    return error_class(
        code=entry.code,
        endpoint=endpoint,
        provider_message="",
        description=str(entry.description),
        retryable=entry.retryable,
        data={"CodeResult": entry.code, "ErrorMessage": str(entry.description)},
    )


def _raise_error(error: str | EsmsVoiceError | type[EsmsVoiceError], endpoint: str) -> None:
    """Raise a scripted transport error: a name from TRANSPORT_ERRORS, a class or an instance."""
    if isinstance(error, str):
        raise TRANSPORT_ERRORS[error](endpoint)
    if isinstance(error, type):
        if issubclass(error, EsmsTransportError):
            raise error("scripted failure", endpoint=endpoint)
        raise error("scripted failure")
    raise error


def _with_defaults(request: CallRequest) -> CallRequest:
    """Fill the ESMS_VOICE DEFAULT_* options the way the HTTP client does before sending."""
    # The client keeps this rule in one place; borrow it rather than copy it.
    shim = EsmsVoiceClient.__new__(EsmsVoiceClient)
    shim._defaults = voice_settings()
    return shim._with_defaults(request)


class LocmemBackend:
    """Keeps every request in memory and answers from a script, like Django's locmem mail.

    By default every call is accepted (100) with a new SMSID; sending the same RequestId again
    answers 124, as eSMS does. ``django_esms_voice.testing`` has the helpers to script other
    answers and to read the outbox.
    """

    def make_call(self, request: CallRequest) -> CallSubmission:
        """Record the request, then answer what the script says for its phone."""
        request = _with_defaults(request)
        endpoint = endpoint_for(request)
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
            raise _refusal(NOT_FOUND_YET, "GetSendStatus")
        if status.result is None:
            raise _refusal(status.code, "GetSendStatus")
        return status.result

    def get_balance(self) -> Balance:
        """Return the scripted balance (1,000,000 by default), or raise the scripted refusal."""
        balance = STATE.balance
        if isinstance(balance, str):
            raise _refusal(balance, "GetBalance_json")
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


# ----------------------------------------------------------------------------- selection


@cache
def _cached_backend() -> VoiceBackend:
    """Build the configured backend once."""
    backend_class: Any = import_string(voice_settings().backend)
    backend: VoiceBackend = backend_class()
    return backend


def get_backend() -> VoiceBackend:
    """Return the backend ESMS_VOICE["BACKEND"] names (rebuilt when a test changes the setting)."""
    return _cached_backend()


def _reset_backend(**kwargs: Any) -> None:
    """Forget the configured backend when ESMS_VOICE changes."""
    if kwargs.get("setting") == "ESMS_VOICE":
        _cached_backend.cache_clear()


setting_changed.connect(_reset_backend)
