"""What the callback tests share: calls, deliveries as eSMS sends them, rows, the log check."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from django_esms_voice.models import CallbackEvent, CallKind, VoiceCall
from django_esms_voice.signing import callback_path, callback_token
from django_esms_voice.states import CallStatus

# The docs' sample callback, byte for byte: a final failure (finished, not sent).
SAMPLE_SMSID = "066107ee-6ec4-4283-b595-aa74977c65c5"

SAMPLE_QUERY = (
    "ReferenceId=066107ee-6ec4-4283-b595-aa74977c65c5&CallDuration=0&CallStatus=&Ivr="
    "&Price=0.0000&SentResult=0&CID=02871002454&SendStatus=5"
)

PHONE = "0901888484"

SECURITY_LOGGER = "django_esms_voice.security"

LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"

# Every token a test put in a URL: none of them may show up in any log record.
TOKENS: set[str] = set()


def make_call(**fields: Any) -> VoiceCall:
    """Create a call eSMS has accepted (status accepted, its own SMSID) unless told otherwise."""
    values: dict[str, Any] = {
        "kind": CallKind.RECORD,
        "template_id": "42",
        "phone": PHONE,
        "status": CallStatus.ACCEPTED,
        "smsid": str(uuid.uuid4()),
    }
    values.update(fields)
    return VoiceCall.objects.create(**values)


def url_for(call_uuid: uuid.UUID | str, token: str | None = None) -> str:
    """Return a call's callback path (its real token unless one is given) and remember the token."""
    if token is None:
        path = callback_path(call_uuid)
        token = path.rstrip("/").rsplit("/", 1)[1]
    else:
        path = f"/esms-voice/callback/{call_uuid}/{token}/"
    if len(token) >= 16:  # a short forged token would match unrelated text by chance
        TOKENS.add(token)
    return path


def result_query(
    smsid: str,
    *,
    send_status: int | str = 5,
    call_status: str = "",
    duration: int | str = 0,
    ivr: str = "",
    price: str = "0.0000",
    sent_result: int | str = 0,
    cid: str = "02871002454",
) -> str:
    """Return a callback query string in the docs' parameter order."""
    return urlencode(
        [
            ("ReferenceId", smsid),
            ("CallDuration", duration),
            ("CallStatus", call_status),
            ("Ivr", ivr),
            ("Price", price),
            ("SentResult", sent_result),
            ("CID", cid),
            ("SendStatus", send_status),
        ]
    )


def answered(smsid: str, **fields: Any) -> str:
    """Return the final callback of an answered call."""
    values: dict[str, Any] = {"duration": 13, "price": "500.0000"}
    values.update(fields)
    return result_query(smsid, call_status="ANSWERED", sent_result=1, **values)


def no_answer(smsid: str) -> str:
    """Return the final callback of a call nobody picked up."""
    return result_query(smsid, call_status="NO ANSWER", sent_result=1)


def progress(smsid: str) -> str:
    """Return the in-progress callback (SendStatus 7: sent, waiting for the report)."""
    return result_query(smsid, send_status=7, sent_result=1)


def deliver(call: VoiceCall, query: str, client: Client | None = None, **extra: Any) -> Any:
    """Send a callback for a call as eSMS does: a GET with the result in the query string."""
    return (client or Client()).get(f"{url_for(call.uuid)}?{query}", **extra)


def events(call: VoiceCall | None = None) -> list[CallbackEvent]:
    """Return the stored events (of one call), oldest first."""
    queryset = CallbackEvent.objects.order_by("id")
    if call is not None:
        queryset = queryset.filter(call=call)
    return list(queryset)


def snapshot(call: VoiceCall) -> dict[str, Any]:
    """Return every column of a call as stored now."""
    return VoiceCall.objects.filter(pk=call.pk).values().get()


def security_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Return the records of the security logger."""
    return [r for r in caplog.records if r.name == SECURITY_LOGGER]


def assert_no_token_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Fail if a token some URL of this test carried is in a log record (of the app's side)."""
    # The simulator plays eSMS: what its own threads log is eSMS's business, not the app's.
    records = [
        r
        for phase in ("setup", "call")
        for r in caplog.get_records(phase)  # type: ignore[arg-type]
        if not r.threadName.startswith("esms-sim")
    ]
    texts = [r.getMessage() for r in records]
    texts += [logging.Formatter().format(r) for r in records if r.exc_info]
    leaked = sorted({t for t in TOKENS for text in texts if t in text})
    assert not leaked, f"a callback token was logged: {[r.getMessage() for r in records]}"


def forged_token(call: VoiceCall) -> str:
    """Return a well-formed token that was never signed."""
    real = callback_token(call.uuid)
    return ("A" if real[0] != "A" else "B") + real[1:]


def other_calls_token(call: VoiceCall) -> str:
    """Return the real token of another call."""
    return callback_token(make_call().uuid)


def prepared_statements() -> list[tuple[str, int]]:
    """Return the statements psycopg prepared in this database session, and their runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE NOT from_sql ORDER BY prepare_time"
        )
        return list(cursor.fetchall())
