"""The eSMS voice API's facts, one table each: codes, statuses, voices, endpoints and names.

Everything here is what eSMS documents (../shared/esms-docs/voice-api.md), not what the app
does with it; an unknown value is looked up with ``.get(..., UNKNOWN)``, never a crash.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# ----------------------------------------------------------------------------- result codes


class CodeKind(enum.StrEnum):
    """How a result code is handled."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CONFIGURATION = "configuration"
    LATER = "later"


@dataclass(frozen=True)
class ResultCode:
    """One eSMS result code with its meaning and handling."""

    code: str
    description: str | Promise
    kind: CodeKind

    @property
    def retryable(self) -> bool:
        """Whether asking again can give another answer."""
        return self.kind is CodeKind.LATER


ACCEPTED = "100"
NOT_FOUND_YET = "105"
DUPLICATE_REQUEST = "124"

RESULT_CODES: dict[str, ResultCode] = {
    entry.code: entry
    for entry in (
        ResultCode("100", _("Request accepted"), CodeKind.ACCEPTED),
        ResultCode("99", _("Phone number blocked on the eSMS system"), CodeKind.REJECTED),
        ResultCode("101", _("Wrong ApiKey or SecretKey"), CodeKind.CONFIGURATION),
        ResultCode("102", _("No price table for the eSMS account"), CodeKind.CONFIGURATION),
        ResultCode("103", _("eSMS balance too low"), CodeKind.REJECTED),
        ResultCode("104", _("Call script (template) does not exist"), CodeKind.REJECTED),
        ResultCode("105", _("Call not known to eSMS yet; ask again later"), CodeKind.LATER),
        ResultCode("106", _("Recording file does not exist"), CodeKind.REJECTED),
        ResultCode("108", _("Phone number has a wrong format"), CodeKind.REJECTED),
        ResultCode("124", _("Request already received (same RequestId)"), CodeKind.DUPLICATE),
        ResultCode("140", _("Caller IP address not allowed by eSMS"), CodeKind.CONFIGURATION),
    )
}
UNKNOWN_CODE = _("Unknown eSMS result code")

#: Codes about the account, not the call: every following call would meet them too
#: (balance too low, wrong keys, no price table, caller IP not whitelisted).
ACCOUNT_CODES = frozenset({"101", "102", "103", "140"})
LOW_BALANCE = "103"


def describe_code(code: str) -> ResultCode:
    """Return a code's table entry; an unknown code is kept as it came and treated as a refusal."""
    code = str(code).strip()
    return RESULT_CODES.get(code) or ResultCode(code, UNKNOWN_CODE, CodeKind.REJECTED)


# ----------------------------------------------------------------------------- endpoints


class Endpoint(enum.StrEnum):
    """The eSMS endpoints the app calls, by their names in the URL."""

    MAKE_CALL_RECORD = "MakeCallRecord_V2"  # play a recording
    MAKE_CALL_TEMPLATE = "MakeCallTemplate_V2"  # read a text-to-speech script
    GET_SEND_STATUS = "GetSendStatus"
    GET_BALANCE = "GetBalance_json"  # a JSON POST on another host (BALANCE_URL)


# ----------------------------------------------------------------------------- requests


class Param(enum.StrEnum):
    """The query parameters of the voice endpoints (the credentials' names included)."""

    API_KEY = "ApiKey"
    SECRET_KEY = "SecretKey"  # noqa: S105 - a parameter name, not a secret
    TEMPLATE_ID = "TemplateId"
    PHONE = "Phone"
    SEND_DATE = "SendDate"
    CALLBACK_URL = "CallbackUrl"
    NUMBER_FORWARD = "NumberForward"
    IVR = "Ivr"
    MAX_REPEAT = "MaxRepeat"
    MAX_RETRY = "MaxRetry"
    TIME_WAIT_TO_IVR = "TimeWaitToIvr"
    WAIT_RETRY = "WaitRetry"
    VARIABLES = "VariableListStr"
    VOICE = "Voice"
    SPEED = "Speed"
    REFERENCE_ID = "ReferenceId"


#: The partner's id of a call, per endpoint: MakeCallRecord_V2 alone spells it "RequestID".
REQUEST_ID_PARAM: dict[Endpoint, str] = {
    Endpoint.MAKE_CALL_RECORD: "RequestID",
    Endpoint.MAKE_CALL_TEMPLATE: "RequestId",
}
MAX_REQUEST_ID_LENGTH = 50
#: SendDate is yyyy/MM/dd HH:mm:ss (24-hour) in Vietnam local time.
SEND_DATE_FORMAT = "%Y/%m/%d %H:%M:%S"
SEND_DATE_TIME_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
#: VariableListStr holds the script's values left to right, joined by this.
VARIABLE_SEPARATOR = "||"

#: The text-to-speech voices (MakeCallTemplate_V2's Voice) and what they sound like.
VOICES: dict[str, Promise] = {
    "male": _("Northern male"),
    "female": _("Northern female"),
    "hatieumai": _("Southern female (Hà Tiểu Mai)"),
    "ngoclam": _("Huế female (Ngọc Lam)"),
}
#: Speed: -3 very slow … 0 normal … 3 very fast.
SPEEDS = range(-3, 4)
#: Ivr: the key (0-9) that forwards the call to NumberForward.
IVR_KEYS = range(10)


# ----------------------------------------------------------------------------- answers


class Answer(enum.StrEnum):
    """The fields of an endpoint's JSON answer, beside the result fields."""

    CODE_RESULT = "CodeResult"  # the call endpoints' code (and every error form's)
    CODE_RESPONSE = "CodeResponse"  # GetSendStatus's and GetBalance_json's code
    ERROR_MESSAGE = "ErrorMessage"
    SMSID = "SMSID"  # the call's id at eSMS (the docs' sample has a trailing space)
    BALANCE = "Balance"
    USER_ID = "UserID"


#: The keys a result code may come under, whichever endpoint answered; text or number.
CODE_FIELDS = (Answer.CODE_RESULT, Answer.CODE_RESPONSE)

#: A call's result fields (a callback's query, a GetSendStatus answer), by CallResult attribute.
RESULT_FIELDS: dict[str, str] = {
    "reference_id": "ReferenceId",
    "send_status": "SendStatus",
    "call_status": "CallStatus",
    "call_duration": "CallDuration",
    "ivr": "Ivr",
    "sent_result": "SentResult",
    "price": "Price",
    "cid": "CID",
}


class SendStatus(enum.IntEnum):
    """SendStatus: where eSMS is with a call."""

    WAITING = 2  # waiting to send
    FINISHED = 5
    SENT = 7  # sent, waiting for the report


#: The documented values, for `value in SEND_STATUSES` (an int is not in the enum on 3.11).
SEND_STATUSES = frozenset(SendStatus)
#: The order a call goes through them: 2, then 7, then 5.
SEND_STATUS_ORDER = (SendStatus.WAITING, SendStatus.SENT, SendStatus.FINISHED)
#: What each SendStatus means, as staff read it.
SEND_STATUS_MEANINGS: dict[int, Promise] = {
    SendStatus.WAITING: _("waiting to be sent"),
    SendStatus.SENT: _("sent, waiting for the carrier's report"),
    SendStatus.FINISHED: _("the call is over"),
}


class SentResult(enum.IntEnum):
    """SentResult: whether the carrier put the call through."""

    FAILED = 0
    SUCCEEDED = 1


SENT_RESULTS = frozenset(SentResult)
#: What each SentResult means, as staff read it.
SENT_RESULT_MEANINGS: dict[int, Promise] = {
    SentResult.FAILED: _("the carrier did not put the call through"),
    SentResult.SUCCEEDED: _("delivered to the carrier"),
}


class CallOutcome(enum.StrEnum):
    """What a CallStatus string says about a finished call."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    UNKNOWN = "unknown"  # empty, or a spelling the docs do not show


#: CallStatus as eSMS spells it: callbacks say "NO ANSWER", GetSendStatus is documented with
#: "NOANSWERED". Read after upper-casing and collapsing spaces.
CALL_STATUSES: dict[str, CallOutcome] = {
    "ANSWERED": CallOutcome.ANSWERED,
    "NO ANSWER": CallOutcome.NO_ANSWER,
    "NOANSWERED": CallOutcome.NO_ANSWER,
    "NO ANSWERED": CallOutcome.NO_ANSWER,
}


#: What each CallStatus outcome means, as staff read it.
CALL_OUTCOME_MEANINGS: dict[CallOutcome, Promise] = {
    CallOutcome.ANSWERED: _("the listener answered"),
    CallOutcome.NO_ANSWER: _("nobody answered"),
    CallOutcome.UNKNOWN: _("not reported by eSMS"),
}


def call_outcome(call_status: str) -> CallOutcome:
    """Return what a CallStatus string means; an unknown or empty one says nothing known."""
    return CALL_STATUSES.get(call_status, CallOutcome.UNKNOWN)
