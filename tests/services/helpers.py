"""What the services tests share: numbers, calls in a given state, deliveries, requests seen."""

from __future__ import annotations

import re
from typing import Any
from unittest import mock
from urllib.parse import urlencode

from django.utils import timezone

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.models import (
    CallbackEvent,
    EventSource,
    VoiceCall,
)
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import (
    GET_SEND_STATUS,
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    EsmsSimulator,
)

PHONE = "0901888484"


OTHER_PHONE = "0912345678"


SMSID = "8eb2af6d-fb4c4814-b9cc-4c0e3ed32edf"


CALLBACK_PATH = re.compile(r"^/esms-voice/callback/(?P<uuid>[0-9a-f-]{36})/(?P<token>[^/]+)/$")


def esms_settings(sim: EsmsSimulator, **extra: Any) -> dict[str, Any]:
    """Return an ESMS_VOICE setting that points the app at the simulator."""
    return {
        "API_KEY": "test-key",
        "SECRET_KEY": "test-secret",
        "BASE_URL": sim.base_url,
        "BALANCE_URL": sim.balance_url,
        "RETRY_BACKOFF": 1,
        "TIMEOUT": (2.0, 5.0),
        **extra,
    }


def enqueued_ids(fake: mock.Mock) -> list[int]:
    """Return the call ids the place task was enqueued for, in order."""
    return [c.args[0][0] for c in fake.call_args_list]


def new_call(**fields: Any) -> VoiceCall:
    """Create a pending recording call without enqueuing it."""
    return services.create_call(enqueue=False, **{"phone": PHONE, "template_id": "rec-1", **fields})


def accepted_call(smsid: str = SMSID, **fields: Any) -> VoiceCall:
    """Create a call as eSMS accepted it."""
    call = new_call(**fields)
    VoiceCall.objects.filter(pk=call.pk).update(
        status=CallStatus.ACCEPTED, smsid=smsid, attempts=1, submitted_at=timezone.now()
    )
    call.refresh_from_db()
    return call


def callback_fields(smsid: str = SMSID, **overrides: str) -> dict[str, str]:
    """Return a final ANSWERED callback's query, as eSMS sends it."""
    fields = {
        "ReferenceId": smsid,
        "CallDuration": "13",
        "CallStatus": "ANSWERED",
        "Ivr": "1",
        "Price": "500.0000",
        "SentResult": "1",
        "CID": "02871002454",
        "SendStatus": "5",
    }
    fields.update(overrides)
    return fields


def deliver(call: VoiceCall, fields: dict[str, str], **kwargs: Any) -> CallbackEvent | None:
    """Apply one callback (or, with source/authoritative, one poll) through the service."""
    options: dict[str, Any] = {
        "source": EventSource.CALLBACK,
        "remote_addr": "127.0.0.1",
        "method": "GET",
        **kwargs,
    }
    return services.record_result(
        call_uuid=call.uuid, raw=urlencode(fields), result=parse_call_result(fields), **options
    )


def make_call_requests(sim: EsmsSimulator) -> list[Any]:
    """Return the MakeCall requests the simulator received."""
    return [r for r in sim.requests if r.endpoint in (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE)]


def status_requests(sim: EsmsSimulator) -> list[Any]:
    """Return the GetSendStatus requests the simulator received."""
    return [r for r in sim.requests if r.endpoint == GET_SEND_STATUS]


def batch_rows(count: int) -> list[dict[str, Any]]:
    """Return `count` valid rows for create_calls(), each with its own number."""
    return [
        {"phone": f"+84 90 1{index:06d}", "template_id": "rec-1", "metadata": {"row": index}}
        for index in range(count)
    ]


def age(call: VoiceCall, **values: Any) -> None:
    """Set a call's timestamps directly, as if time had passed."""
    VoiceCall.objects.filter(pk=call.pk).update(**values)


IN_PROGRESS = {"ReferenceId": SMSID, "SendStatus": "7", "CallStatus": "", "SentResult": "1"}


ANSWERED = {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}


NO_ANSWER = {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "NO ANSWER", "SentResult": "1"}
