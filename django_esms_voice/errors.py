"""What a stored error code means and what to do about it: the one table every page reads.

A call's ``last_error_code`` holds one code of ``VOCABULARY``: an eSMS result code (a
refusal), or one of the app's own (``timeout``, ``http_5xx``, ``bad_response``, ...: each
exception's ``code``, read by ``error_code``). ``explain(code)`` never fails: an unknown code
gets a generic entry, and a class name stored before the vocabulary its new code's. To add a
code, add an ``Explanation`` to ``OWN_ERRORS``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .esms.protocol import RESULT_CODES, describe_code
from .exceptions import (
    EsmsConnectionError,
    EsmsInputError,
    EsmsInvalidResponse,
    EsmsSettingsError,
    EsmsTimeout,
    EsmsTransportError,
    EsmsVoiceError,
    FrequencyCapped,
    SuppressedNumber,
)


@dataclass(frozen=True)
class Explanation:
    """An error code, what it means and what to do about it, in the reader's language."""

    code: str
    meaning: str | Promise
    advice: str | Promise


#: What an operator should do about each account code (the admin's banner, the admins' mail).
ACCOUNT_ADVICE: dict[str, str | Promise] = {
    "101": _(
        "Check ESMS_VOICE['API_KEY'] and ESMS_VOICE['SECRET_KEY'] against the keys shown on "
        "account.esms.vn, then resume placement."
    ),
    "102": _("Ask eSMS to set up the account's price table for voice calls, then resume."),
    "103": _(
        "Top up the eSMS account: placement resumes by itself once the balance is back, or "
        "resume it yourself."
    ),
    "140": _(
        "Add this server's public IP address to the allowed addresses on account.esms.vn, "
        "then resume placement."
    ),
}

#: Advice for the other refusals eSMS documents (its meanings are esms.protocol's).
ESMS_ADVICE: dict[str, str | Promise] = {
    "99": _(
        "eSMS will not call this number: take it off your list, or ask eSMS support why it "
        "is blocked."
    ),
    "104": _(
        "Check the script's id (the template_id of the call) on account.esms.vn, then place "
        "the calls again."
    ),
    "106": _(
        "Check the recording's id (the template_id of the call) on account.esms.vn, then "
        "place the calls again."
    ),
    "108": _("Check the number: eSMS thinks it is wrong. Correct it and place the call again."),
}


def _numeric(item: tuple[str, object]) -> int:
    """Sort eSMS's codes as numbers."""
    return int(item[0])


#: For a refusal eSMS documents no advice for, or a code it does not document.
UNKNOWN_ESMS_ADVICE = _(
    "Look the code up in eSMS's result codes or ask eSMS support; the call's last error "
    "says what eSMS answered."
)
#: For a code that is neither eSMS's nor one of the app's own.
UNKNOWN_CODE_MEANING = _("Unrecognised error")
UNKNOWN_CODE_ADVICE = _("Open the call: its last error says what happened.")
NO_CODE_MEANING = _("No error code was recorded")

#: The code of a call eSMS accepted and no result came for (the sweep stopped waiting).
NO_RESULT = "no_result"

_GAVE_UP = _(
    "eSMS could not be reached after every attempt (MAX_ATTEMPTS). eSMS may still have got "
    "one of them: if its result arrives, the call moves on to it. Otherwise retry the call "
    "once eSMS answers again."
)

#: The app's own codes: what made it give up on a call, or stop waiting for its result.
OWN_ERRORS: tuple[Explanation, ...] = (
    Explanation(EsmsTimeout.code, _("eSMS did not answer in time"), _GAVE_UP),
    Explanation(
        EsmsConnectionError.code,
        _("No connection to eSMS could be made"),
        _(
            "Check that the workers' machines can reach eSMS (network, firewall, proxy), then "
            "retry the call."
        ),
    ),
    Explanation(
        "http_4xx",
        _("eSMS refused the request with an HTTP 4xx error"),
        _(
            "An HTTP 4xx other than 408 and 429 is not retried: the address or the request is "
            "wrong. Check ESMS_VOICE['BASE_URL'] and any proxy in between, then retry the call."
        ),
    ),
    Explanation(
        "http_5xx",
        _("eSMS answered with a server error (HTTP 5xx)"),
        _(
            "The trouble was on eSMS's side and the call was sent again up to MAX_ATTEMPTS. "
            "eSMS may still have got one of them: if its result arrives, the call moves on to "
            "it. Otherwise retry the call once eSMS answers again."
        ),
    ),
    Explanation(EsmsInvalidResponse.code, _("eSMS's answer could not be read"), _GAVE_UP),
    Explanation(EsmsTransportError.code, _("eSMS could not be reached"), _GAVE_UP),
    Explanation(
        EsmsSettingsError.code,
        _("The worker's ESMS_VOICE setting is incomplete"),
        _(
            "Typically the credentials are missing from the worker's environment while the web "
            "server has them: run manage.py check where the worker runs, fix the setting, then "
            "retry the call."
        ),
    ),
    Explanation(
        EsmsInputError.code,
        _("The call no longer passes validation"),
        _(
            "It was probably changed in the database by hand, and a retry would copy it: "
            "check its number and options and place a corrected call."
        ),
    ),
    Explanation(
        SuppressedNumber.code,
        _("Not called: the number is on the suppression list"),
        _(
            "The person asked not to be called, or the number is on the do-not-call list, so "
            "the call was canceled before it went out and nothing was charged. Do not call it "
            "again; if the number was added by mistake, remove it from the suppression list first."
        ),
    ),
    Explanation(
        FrequencyCapped.code,
        _("Not called: the number already had its calls for the period"),
        _(
            "The frequency cap allows only so many calls to one number in a period (one "
            "advertising call per 24 hours by default), so the call was canceled and nothing "
            "was charged. Call the number again after the period; if the recipients agreed to "
            "more calls, set the campaign's calls per number."
        ),
    ),
    Explanation(
        NO_RESULT,
        _("eSMS accepted the call but no result came"),
        _(
            "eSMS placed the call and bills for it, but no result came by callback or status "
            "poll within RESULT_TIMEOUT. Do not retry it: the number would ring twice. Check "
            "that eSMS's callbacks reach CALLBACK_BASE_URL; a late result still completes it."
        ),
    ),
)

#: The codes stored before the vocabulary (a Python class name) and the code each became
#: (migration 0015 rewrites them; a row read before it still gets explained).
LEGACY_CODES: dict[str, str] = {
    "EsmsTimeout": EsmsTimeout.code,
    "EsmsConnectionError": EsmsConnectionError.code,
    "EsmsInvalidResponse": EsmsInvalidResponse.code,
    "EsmsTransportError": EsmsTransportError.code,
    "EsmsSettingsError": EsmsSettingsError.code,
}
#: An old HTTP error's code did not keep its status: it gets the explanation it had then.
LEGACY_HTTP_ERROR = Explanation(
    "EsmsHTTPError",
    _("eSMS answered with an HTTP error"),
    _(
        "An HTTP 4xx other than 408 and 429 is not retried: check ESMS_VOICE['BASE_URL']. "
        "A 5xx is eSMS's own trouble. Then retry the call."
    ),
)

#: Refusals a retry repeats as it is: the retry copies the call, so a wrong recording or script
#: id (106, 104) is refused again, and the account's refusals (101, 102, 140) stay until someone
#: fixes the account. The retry confirmation warns before any of them is placed again.
REFUSED_AGAIN_ON_RETRY = frozenset({"101", "102", "104", "106", "140"})

ERRORS: dict[str, Explanation] = {
    **{
        code: Explanation(code, RESULT_CODES[code].description, advice)
        for code, advice in sorted({**ACCOUNT_ADVICE, **ESMS_ADVICE}.items(), key=_numeric)
    },
    **{entry.code: entry for entry in OWN_ERRORS},
}

#: Every code a call's last_error_code holds, in the order the admin lists them.
VOCABULARY: tuple[str, ...] = tuple(ERRORS)


def explain(code: str) -> Explanation:
    """Return what a stored error code means and what to do; an unknown code gets a generic one."""
    code = (code or "").strip()
    code = LEGACY_CODES.get(code, code)
    if code in ERRORS:
        return ERRORS[code]
    if code == LEGACY_HTTP_ERROR.code:
        return LEGACY_HTTP_ERROR
    if not code:
        return Explanation("", NO_CODE_MEANING, UNKNOWN_CODE_ADVICE)
    if code.isdigit():  # eSMS's codes are numbers: a documented one, or one it added since
        return Explanation(code, describe_code(code).description, UNKNOWN_ESMS_ADVICE)
    return Explanation(code, UNKNOWN_CODE_MEANING, UNKNOWN_CODE_ADVICE)


def error_code(exc: EsmsVoiceError) -> str:
    """Return the code a call keeps for an error: eSMS's result code or one of the app's own."""
    return (exc.code or EsmsTransportError.code)[:32]


#: How long a stored error message may be: the start of a provider's page is enough.
MESSAGE_LIMIT = 300
# A tag, or one the preview of a page cut in half at the end; "a < b" is no tag.
_TAG = re.compile(r"<[!/?A-Za-z][^<>]*(?:>|$)")
# The preview of a body is quoted with repr(): its line breaks are escapes.
_SPACE = re.compile(r"(?:\\[nrt]|\s)+")


def short_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Return an error message as one bounded line of text: an HTML page's tags stripped."""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
