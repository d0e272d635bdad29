"""What a stored error code means and what to do about it: the one table every page reads.

A call's ``last_error_code`` holds an eSMS result code (a refusal), the name of the failure
that made the app give up (a transport error's class name, ``invalid``) or ``no_result``
(the sweep stopped waiting). ``explain(code)`` never fails: an unknown code gets a generic
entry. To add a code, add an ``Explanation`` to ``ERRORS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .esms.protocol import RESULT_CODES, describe_code
from .exceptions import (
    EsmsConnectionError,
    EsmsHTTPError,
    EsmsInvalidResponse,
    EsmsSettingsError,
    EsmsTimeout,
    EsmsTransportError,
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

#: For a refusal eSMS documents no advice for, or a code it does not document.
UNKNOWN_ESMS_ADVICE = _(
    "Look the code up in eSMS's result codes or ask eSMS support; the call's last error "
    "says what eSMS answered."
)
#: For a code that is neither eSMS's nor one of the app's own.
UNKNOWN_CODE_MEANING = _("Unrecognised error")
UNKNOWN_CODE_ADVICE = _("Open the call: its last error says what happened.")
NO_CODE_MEANING = _("No error code was recorded")

_GAVE_UP = _(
    "eSMS could not be reached after every attempt (MAX_ATTEMPTS). eSMS may still have got "
    "one of them: if its result arrives, the call moves on to it. Otherwise retry the call "
    "once eSMS answers again."
)

#: The app's own codes: what made it give up on a call, or stop waiting for its result.
OWN_ERRORS: tuple[Explanation, ...] = (
    Explanation(EsmsTimeout.__name__, _("eSMS did not answer in time"), _GAVE_UP),
    Explanation(
        EsmsConnectionError.__name__,
        _("No connection to eSMS could be made"),
        _(
            "Check that the workers' machines can reach eSMS (network, firewall, proxy), then "
            "retry the call."
        ),
    ),
    Explanation(
        EsmsHTTPError.__name__,
        _("eSMS answered with an HTTP error"),
        _(
            "An HTTP 4xx other than 408 and 429 is not retried: check ESMS_VOICE['BASE_URL']. "
            "A 5xx is eSMS's own trouble. Then retry the call."
        ),
    ),
    Explanation(EsmsInvalidResponse.__name__, _("eSMS's answer could not be read"), _GAVE_UP),
    Explanation(EsmsTransportError.__name__, _("eSMS could not be reached"), _GAVE_UP),
    Explanation(
        EsmsSettingsError.__name__,
        _("The worker's ESMS_VOICE setting is incomplete"),
        _(
            "Typically the credentials are missing from the worker's environment while the web "
            "server has them: run manage.py check where the worker runs, fix the setting, then "
            "retry the call."
        ),
    ),
    Explanation(
        "invalid",
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
        "no_result",
        _("eSMS accepted the call but no result came"),
        _(
            "eSMS placed the call and bills for it, but no result came by callback or status "
            "poll within RESULT_TIMEOUT. Do not retry it: the number would ring twice. Check "
            "that eSMS's callbacks reach CALLBACK_BASE_URL; a late result still completes it."
        ),
    ),
)

#: Refusals a retry repeats as it is: the retry copies the call, so a wrong recording or script
#: id (106, 104) is refused again, and the account's refusals (101, 102, 140) stay until someone
#: fixes the account. The retry confirmation warns before any of them is placed again.
REFUSED_AGAIN_ON_RETRY = frozenset({"101", "102", "104", "106", "140"})

ERRORS: dict[str, Explanation] = {
    **{
        code: Explanation(code, RESULT_CODES[code].description, advice)
        for code, advice in {**ACCOUNT_ADVICE, **ESMS_ADVICE}.items()
    },
    **{entry.code: entry for entry in OWN_ERRORS},
}


def explain(code: str) -> Explanation:
    """Return what a stored error code means and what to do; an unknown code gets a generic one."""
    code = (code or "").strip()
    if code in ERRORS:
        return ERRORS[code]
    if not code:
        return Explanation("", NO_CODE_MEANING, UNKNOWN_CODE_ADVICE)
    if code.isdigit():  # eSMS's codes are numbers: a documented one, or one it added since
        return Explanation(code, describe_code(code).description, UNKNOWN_ESMS_ADVICE)
    return Explanation(code, UNKNOWN_CODE_MEANING, UNKNOWN_CODE_ADVICE)
