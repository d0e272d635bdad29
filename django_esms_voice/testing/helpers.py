"""The testing helpers: the locmem backend's outbox, scripted eSMS answers, fake callbacks.

Import them from ``django_esms_voice.testing``, which loads this module on first use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..backends.locmem import STATE, TRANSPORT_ERRORS, ScriptedAnswer, ScriptedStatus
from ..esms.payloads import Balance, CallRequest, parse_call_result
from ..esms.protocol import (
    ACCEPTED,
    RESULT_FIELDS,
    CodeKind,
    SendStatus,
    SentResult,
    describe_code,
)
from ..exceptions import EsmsVoiceError

if TYPE_CHECKING:
    from django.test import Client
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

    from ..models import VoiceCall

#: Every request the locmem backend received, oldest first (the same list object for good).
outbox: list[CallRequest] = STATE.outbox

#: What eSMS sends for each result deliver_callback() can fake (CallStatus, SentResult, SendStatus).
CALLBACK_RESULTS: dict[str, tuple[str, int, int]] = {
    "answered": ("ANSWERED", SentResult.SUCCEEDED, SendStatus.FINISHED),
    "no_answer": ("NO ANSWER", SentResult.SUCCEEDED, SendStatus.FINISHED),
    "failed": ("", SentResult.FAILED, SendStatus.FINISHED),
    "in_progress": ("", SentResult.SUCCEEDED, SendStatus.SENT),
}
DEFAULT_CID = "02871002454"


def _forget_cached_balance() -> None:
    """Drop the balance the admin's confirmation pages keep, so a new script shows at once."""
    from django.apps import apps

    if apps.ready:  # services import the models
        from ..services.estimates import forget_balance

        forget_balance()


def reset_outbox() -> None:
    """Empty the outbox and forget every scripted answer, status and balance."""
    STATE.reset()
    _forget_cached_balance()


def script_answer(
    phone: str,
    *,
    code: str | int | None = None,
    error: str | EsmsVoiceError | type[EsmsVoiceError] | None = None,
    times: int | None = None,
) -> None:
    """Make the locmem backend answer the calls to `phone` with `code` or a transport `error`.

    ``code``: an eSMS result code. 100 accepts (the default for every phone), 124 says the call
    was already received, any other code raises what the HTTP client raises for it
    (``EsmsRejected`` for 103, ``EsmsConfigurationError`` for 101, ...).
    ``error``: ``"timeout"``, ``"connection"``, ``"http"`` (a 503) or ``"invalid"`` (not
    JSON), or an exception to raise. ``times``: answer this many requests so, then go back to
    what was scripted before (default: every request).
    """
    from ..esms.phone import normalize_phone

    if (code is None) == (error is None):
        raise ValueError("script_answer() needs exactly one of code= or error=.")
    if isinstance(error, str) and error not in TRANSPORT_ERRORS:
        raise ValueError(f"error must be one of {sorted(TRANSPORT_ERRORS)}, or an exception.")
    if times is not None and times < 1:
        raise ValueError("times must be at least 1, or None for every request.")
    answer_code = str(code).strip() if code is not None else ACCEPTED
    if describe_code(answer_code).kind is CodeKind.LATER:
        raise ValueError("105 answers a status query, not a call.")
    answer = ScriptedAnswer(code=answer_code, error=error, times=times)
    key = normalize_phone(phone)
    with STATE.lock:
        queue = STATE.answers.setdefault(key, [])
        if times is None:
            queue[:] = [a for a in queue if a.times is not None]  # the new standing answer
        queue.insert(sum(1 for a in queue if a.times is not None), answer)


def callback_params(
    *,
    status: str = "answered",
    reference_id: str = "",
    duration: int | None = None,
    ivr: str = "",
    price: str | Decimal | None = None,
    cid: str = DEFAULT_CID,
) -> dict[str, str]:
    """Return the query eSMS sends for a result, in the documented order."""
    try:
        call_status, sent_result, send_status = CALLBACK_RESULTS[status]
    except KeyError:
        raise ValueError(
            f"status must be one of {sorted(CALLBACK_RESULTS)}, got {status!r}."
        ) from None
    final = send_status == SendStatus.FINISHED
    if duration is None:
        duration = 13 if status == "answered" else 0
    if price is None:
        price = "500.0000" if status == "answered" else "0.0000"
    name = RESULT_FIELDS
    return {
        name["reference_id"]: reference_id,
        name["call_duration"]: str(duration if final else 0),
        name["call_status"]: call_status,
        name["ivr"]: ivr if final else "",
        name["price"]: str(price) if final else "0.0000",
        name["sent_result"]: str(int(sent_result)),
        name["cid"]: cid,
        name["send_status"]: str(int(send_status)),
    }


def script_status(
    call_or_smsid: VoiceCall | str,
    *,
    status: str = "answered",
    code: str | int | None = None,
    duration: int | None = None,
    ivr: str = "",
    price: str | Decimal | None = None,
) -> None:
    """Make the locmem backend's GetSendStatus answer for a call (by default it answers 105).

    Give a ``status`` as for deliver_callback(), or a refusal ``code``.
    """
    smsid = (call_or_smsid if isinstance(call_or_smsid, str) else call_or_smsid.smsid).strip()
    if not smsid:
        raise ValueError("script_status() needs an SMSID: the call was not accepted by eSMS yet.")
    if code is not None:
        scripted = ScriptedStatus(result=None, code=str(code).strip())
    else:
        params = callback_params(
            status=status, reference_id=smsid, duration=duration, ivr=ivr, price=price
        )
        scripted = ScriptedStatus(result=parse_call_result(params))
    with STATE.lock:
        STATE.statuses[smsid.lower()] = scripted


def script_balance(
    balance: Decimal | int | str | None = None, *, code: str | int | None = None
) -> None:
    """Make the locmem backend's GetBalance answer `balance`, or refuse it with `code`."""
    if (balance is None) == (code is None):
        raise ValueError("script_balance() needs exactly one of balance or code=.")
    with STATE.lock:
        if code is not None:
            STATE.balance = str(code).strip()
        else:
            STATE.balance = Balance(balance=Decimal(str(balance)), user_id="locmem")
    _forget_cached_balance()


def deliver_callback(
    call: VoiceCall,
    *,
    status: str = "answered",
    duration: int | None = None,
    ivr: str = "",
    price: str | Decimal | None = None,
    reference_id: str | None = None,
    client: Client | None = None,
) -> TestResponse:
    """Send eSMS's callback for `call` through the real view at its signed URL; return the answer.

    The query is what eSMS sends (a GET); ``reference_id`` defaults to the call's stored SMSID.
    Reload the call (``call.refresh_from_db()``) to see its new status.
    """
    from django.test import Client

    from ..models import VoiceCall
    from ..signing import callback_path

    if reference_id is None:  # the SMSID as stored: `call` may be older than its placement
        stored = VoiceCall.objects.filter(pk=call.pk).values_list("smsid", flat=True).first()
        reference_id = stored or call.smsid
    params = callback_params(
        status=status,
        reference_id=reference_id,
        duration=duration,
        ivr=ivr,
        price=price,
    )
    return (client or Client()).get(callback_path(call.uuid), params)
