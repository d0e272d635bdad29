"""Typed eSMS requests and results: validated before sending, parsed from every documented form."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from ..exceptions import EsmsInputError
from .phone import normalize_phone
from .protocol import (
    IVR_KEYS,
    MAX_REQUEST_ID_LENGTH,
    REQUEST_ID_PARAM,
    RESULT_FIELDS,
    SEND_DATE_FORMAT,
    SEND_DATE_TIME_ZONE,
    SEND_STATUSES,
    SENT_RESULTS,
    SPEEDS,
    VARIABLE_SEPARATOR,
    VOICES,
    Endpoint,
    Param,
)


def format_send_date(value: object) -> str:
    """Format an aware datetime as eSMS's SendDate: yyyy/MM/dd HH:mm:ss in Vietnam time."""
    if not isinstance(value, dt.datetime):
        raise EsmsInputError(
            "send_at",
            _("Give a date and time (datetime), not %(type)s.") % {"type": type(value).__name__},
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise EsmsInputError(
            "send_at",
            _(
                "The schedule must be timezone-aware: a naive time would be read as Vietnam time "
                "and could ring at the wrong hour."
            ),
        )
    return value.astimezone(SEND_DATE_TIME_ZONE).strftime(SEND_DATE_FORMAT)


def _text(name: str, value: object, *, required: bool, max_length: int | None = None) -> str:
    """Return a stripped text value, refusing empty required ones and over-long ones."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise EsmsInputError(name, _("This value is required."))
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EsmsInputError(
            name, _("Expected text, got %(type)s.") % {"type": type(value).__name__}
        )
    text = str(value).strip()
    if max_length is not None and len(text) > max_length:
        raise EsmsInputError(
            name, _("At most %(max)d characters are allowed.") % {"max": max_length}
        )
    return text


def _whole(name: str, value: object, *, low: int, high: int | None = None) -> int | None:
    """Return an optional whole number within bounds, or refuse it saying the bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EsmsInputError(name, _("Expected a whole number, got %(value)r.") % {"value": value})
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise EsmsInputError(
            name, _("Must be %(bounds)s, got %(value)d.") % {"bounds": bounds, "value": value}
        )
    return value


def _ivr_key(value: object) -> int | None:
    """Return the IVR key as 0-9; a one-digit string is accepted."""
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().isdigit():
        value = int(value.strip())
    return _whole("ivr", value, low=IVR_KEYS.start, high=IVR_KEYS.stop - 1)


def _callback_url(value: object) -> str:
    """Return an absolute http(s) callback URL, unencoded (requests encodes it once)."""
    url = _text("callback_url", value, required=False)
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EsmsInputError("callback_url", _("Must be an absolute http(s) URL."))
    return url


def _variables(values: object) -> tuple[str, ...]:
    """Return the script variables as text, refusing values that would break the || joining."""
    if values is None:
        return ()
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise EsmsInputError("variables", _("Give a list of values, one per script variable."))
    cleaned: list[str] = []
    for position, value in enumerate(values, start=1):
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise EsmsInputError(
                "variables", _("Value %(n)d must be text or a number.") % {"n": position}
            )
        text = str(value)
        if VARIABLE_SEPARATOR in text:
            raise EsmsInputError(
                "variables",
                _("Value %(n)d contains '||', which eSMS uses to separate the values.")
                % {"n": position},
            )
        cleaned.append(text)
    return tuple(cleaned)


@dataclass(frozen=True, kw_only=True)
class _CallRequest:
    """What both call endpoints share: the phone, the template and the delivery options."""

    #: The endpoint that places this kind of call.
    endpoint: ClassVar[Endpoint]
    phone: str
    template_id: str
    request_id: str | None = None
    send_at: dt.datetime | None = None
    # The URL holds the call's callback token, its credential: not in reprs or logs.
    callback_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Validate and normalise the shared values; refuse before any request is made."""
        object.__setattr__(self, "phone", normalize_phone(self.phone))
        object.__setattr__(
            self, "template_id", _text("template_id", self.template_id, required=True)
        )
        request_id = _text(
            "request_id", self.request_id, required=False, max_length=MAX_REQUEST_ID_LENGTH
        )
        object.__setattr__(self, "request_id", request_id or None)
        if self.send_at is not None:
            format_send_date(self.send_at)
        object.__setattr__(self, "callback_url", _callback_url(self.callback_url) or None)

    def _common_params(self) -> dict[str, str]:
        """Return the shared query parameters, leaving out what was not given."""
        params: dict[str, str] = {Param.TEMPLATE_ID: self.template_id, Param.PHONE: self.phone}
        if self.send_at is not None:
            params[Param.SEND_DATE] = format_send_date(self.send_at)
        if self.callback_url:
            params[Param.CALLBACK_URL] = self.callback_url
        if self.request_id:
            params[REQUEST_ID_PARAM[self.endpoint]] = self.request_id
        return params


@dataclass(frozen=True, kw_only=True)
class RecordCallRequest(_CallRequest):
    """MakeCallRecord_V2: call a phone and play a recording uploaded on account.esms.vn."""

    endpoint = Endpoint.MAKE_CALL_RECORD

    number_forward: str | None = None
    ivr: int | None = None
    max_repeat: int | None = None
    max_retry: int | None = None
    time_wait_to_ivr: int | None = None
    wait_retry: int | None = None

    def __post_init__(self) -> None:
        """Validate the recording call's own options."""
        super().__post_init__()
        forward = self.number_forward
        if forward not in (None, ""):
            # A listener may be put through to a 1800/1900 hotline; only the callee may not be one.
            forward = normalize_phone(forward, field="number_forward", service_lines=True)
        object.__setattr__(self, "number_forward", forward or None)
        object.__setattr__(self, "ivr", _ivr_key(self.ivr))
        if (self.ivr is None) != (self.number_forward is None):
            raise EsmsInputError(
                "ivr",
                _("The IVR key and the forward number go together: give both or neither."),
            )
        for name in ("max_repeat", "max_retry", "time_wait_to_ivr", "wait_retry"):
            _whole(name, getattr(self, name), low=0)

    def to_params(self) -> dict[str, str]:
        """Return the documented query parameters (without the credentials)."""
        params = self._common_params()
        optional = {
            Param.NUMBER_FORWARD: self.number_forward,
            Param.IVR: self.ivr,
            Param.MAX_REPEAT: self.max_repeat,
            Param.MAX_RETRY: self.max_retry,
            Param.TIME_WAIT_TO_IVR: self.time_wait_to_ivr,
            Param.WAIT_RETRY: self.wait_retry,
        }
        params.update({name: str(value) for name, value in optional.items() if value is not None})
        return params


@dataclass(frozen=True, kw_only=True)
class TemplateCallRequest(_CallRequest):
    """MakeCallTemplate_V2: call a phone and read a registered script with its variables."""

    endpoint = Endpoint.MAKE_CALL_TEMPLATE

    # Not in the repr: a one-time password must not reach a traceback or a log line.
    variables: Sequence[str] = field(default=(), repr=False)
    voice: str | None = None
    speed: int | None = None

    def __post_init__(self) -> None:
        """Validate the script values, the voice and the speed."""
        super().__post_init__()
        object.__setattr__(self, "variables", _variables(self.variables))
        if self.voice is not None and self.voice not in VOICES:
            raise EsmsInputError(
                "voice",
                _("Must be one of %(choices)s, got %(value)r.")
                % {"choices": ", ".join(VOICES), "value": self.voice},
            )
        # 1.0 in range(-3, 4) is True, yet Speed=1.0 is not a documented value.
        speed = self.speed
        if speed is not None and (
            isinstance(speed, bool) or not isinstance(speed, int) or speed not in SPEEDS
        ):
            raise EsmsInputError(
                "speed",
                _("Must be a whole number from -3 to 3, got %(value)r.") % {"value": self.speed},
            )

    def to_params(self) -> dict[str, str]:
        """Return the documented query parameters (without the credentials)."""
        params = self._common_params()
        if self.variables:
            params[Param.VARIABLES] = VARIABLE_SEPARATOR.join(self.variables)
        if self.voice is not None:
            params[Param.VOICE] = self.voice
        if self.speed is not None:
            params[Param.SPEED] = str(self.speed)
        return params


CallRequest = RecordCallRequest | TemplateCallRequest


@dataclass(frozen=True)
class CallSubmission:
    """eSMS accepted a call (100), or had already received it under this RequestId (124)."""

    code: str
    smsid: str | None
    request_id: str | None
    already_received: bool = False


@dataclass(frozen=True)
class CallResult:
    """The result fields of one call, from a callback or a GetSendStatus answer."""

    reference_id: str
    send_status: int | None
    call_status: str
    call_duration: int | None
    ivr: str
    sent_result: int | None
    price: Decimal | None = None
    cid: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Balance:
    """The eSMS account balance."""

    balance: Decimal
    user_id: str | None


class MalformedResult(ValueError):
    """A result field has a value the docs do not allow; the message names the field."""


# What the columns hold: price numeric(16, 4), the whole numbers a 32-bit integer (duration
# is PositiveIntegerField; SendStatus and SentResult are checked against their few values).
_PRICE_STEP = Decimal("0.0001")
_PRICE_LIMIT = Decimal("1e12")
_WHOLE_LIMIT = 2**31 - 1
# ASCII digits only: int() and Decimal() also read "+5", "5_0" and other scripts' digits
# (U+0665 ARABIC-INDIC DIGIT FIVE, U+FF15 FULLWIDTH DIGIT FIVE) as numbers.
_WHOLE_TEXT = re.compile(r"[0-9]+")
_AMOUNT_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def normalize_smsid(value: object) -> str:
    """Strip an SMSID/ReferenceId (the docs' sample has a trailing space)."""
    return str(value).strip() if value is not None else ""


def _number(data: Mapping[str, Any], name: str, *, whole: bool) -> Decimal | None:
    """Read a number eSMS sent as ASCII digits or as a JSON number; missing or empty is None.

    The one reader of every number in a result: text must be digits (with a decimal point
    for an amount), spaces around it tolerated; no sign, exponent or other script's digits.
    """
    value = data.get(name)
    kind = "a whole number" if whole else "a number"
    if value is None or (isinstance(value, str) and not value.strip(string.whitespace)):
        return None
    if isinstance(value, str):
        text = value.strip(string.whitespace)
        if not (_WHOLE_TEXT if whole else _AMOUNT_TEXT).fullmatch(text):
            raise MalformedResult(f"{name} is not {kind}: {text[:40]!r}")
        return Decimal(text)
    # GetSendStatus answers in JSON: its numbers arrive as int or float.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResult(f"{name} is not {kind}: {str(value)[:40]!r}")
    number = Decimal(str(value))  # str(): a float's shortest spelling, not its binary expansion
    if not number.is_finite() or number < 0 or (whole and number != number.to_integral_value()):
        raise MalformedResult(f"{name} is not {kind}: {value!r}")
    return number


def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
    """Read a whole number that fits an integer column; missing or empty is None."""
    number = _number(data, name, whole=True)
    if number is None:
        return None
    if number > _WHOLE_LIMIT:
        raise MalformedResult(f"{name} is out of range: {str(data.get(name))[:40]!r}")
    return int(number)


def _optional_decimal(data: Mapping[str, Any], name: str) -> Decimal | None:
    """Read an amount (Price) rounded to the column's 4 places, as the column would store it."""
    amount = _number(data, name, whole=False)
    if amount is None:
        return None
    if amount < _PRICE_LIMIT:  # half up, as PostgreSQL rounds a positive numeric
        amount = amount.quantize(_PRICE_STEP, rounding=ROUND_HALF_UP)
    if amount >= _PRICE_LIMIT:  # 999999999999.99995 rounds to 10^12: too large too
        raise MalformedResult(f"{name} is out of range: {str(data.get(name))[:40]!r}")
    return amount


def _short_text(data: Mapping[str, Any], name: str, max_length: int) -> str:
    """Read a short text field, refusing values too long to be real."""
    value = data.get(name)
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        raise MalformedResult(f"{name} is longer than {max_length} characters")
    if "\x00" in text:  # no real value has one, and PostgreSQL text and jsonb refuse it
        raise MalformedResult(f"{name} contains a NUL character")
    return text


def parse_call_result(data: Mapping[str, Any]) -> CallResult:
    """Parse result fields from a callback's query or a status answer; raise MalformedResult."""
    name = RESULT_FIELDS
    send_status = _optional_int(data, name["send_status"])
    if send_status is not None and send_status not in SEND_STATUSES:
        allowed = tuple(sorted(int(value) for value in SEND_STATUSES))
        raise MalformedResult(f"SendStatus {send_status} is not one of {allowed}")
    sent_result = _optional_int(data, name["sent_result"])
    if sent_result is not None and sent_result not in SENT_RESULTS:
        raise MalformedResult(f"SentResult {sent_result} is neither 0 nor 1")
    return CallResult(
        reference_id=_short_text(data, name["reference_id"], 100),
        send_status=send_status,
        call_status=" ".join(_short_text(data, name["call_status"], 40).upper().split()),
        call_duration=_optional_int(data, name["call_duration"]),
        ivr=_short_text(data, name["ivr"], 20),
        sent_result=sent_result,
        price=_optional_decimal(data, name["price"]),
        cid=_short_text(data, name["cid"], 40),
        raw=dict(data),
    )


def parse_status_answer(data: Mapping[str, Any], smsid: str) -> CallResult:
    """Parse a GetSendStatus answer about the call with this SMSID; raise MalformedResult.

    An answer without a ReferenceId is about the SMSID that was asked for.
    """
    result = parse_call_result(data)
    return replace(result, reference_id=normalize_smsid(result.reference_id) or smsid)


def parse_delivery(pairs: Iterable[tuple[Any, Any]]) -> tuple[CallResult | None, str]:
    """Parse a callback's fields (query and body); return (result, "") or (None, why not)."""
    fields: dict[str, str] = {}
    for key, value in pairs:
        name, text = str(key), str(value)
        if fields.setdefault(name, text) != text:
            return None, f"parameter {name[:40]!r} repeated with different values"
    if RESULT_FIELDS["send_status"] not in fields:
        return None, "SendStatus is missing"
    try:
        return parse_call_result(fields), ""
    except MalformedResult as exc:
        return None, str(exc)
