"""The esms_voice_reprocess command: which events it selects, what it prints, how it refuses."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_esms_voice.models import CallbackEvent, CallKind, EventOutcome, VoiceCall
from django_esms_voice.services import results
from django_esms_voice.signing import callback_url
from django_esms_voice.states import CallStatus

pytestmark = pytest.mark.django_db

SMSID = "066107ee-6ec4-4283-b595-aa74977c65c5"
ANSWERED = urlencode(
    {"ReferenceId": SMSID, "SendStatus": "5", "CallStatus": "ANSWERED", "SentResult": "1"}
)
API_KEY = "reprocess-api-key-4e1b7d"
SECRET_KEY = "reprocess-secret-key-90c2aa"


def accepted() -> VoiceCall:
    return VoiceCall.objects.create(
        kind=CallKind.RECORD,
        template_id="1",
        phone="0901888484",
        status=CallStatus.ACCEPTED,
        smsid=SMSID,
    )


def failed(
    call: VoiceCall | None, outcome: str = EventOutcome.ERROR, **fields: Any
) -> CallbackEvent:
    """An event stored "error" (or `outcome`), as record_result leaves one it could not apply."""
    values = {"raw": ANSWERED, "method": "GET", "error": "InternalError: disk full", **fields}
    return CallbackEvent.objects.create(call=call, outcome=outcome, **values)


def reprocess(*args: str) -> str:
    out = StringIO()
    call_command("esms_voice_reprocess", *args, stdout=out)
    return out.getvalue()


def test_failed_events_are_reprocessed_with_a_line_each_and_a_summary() -> None:
    call = accepted()
    event = failed(call)
    failed(call, EventOutcome.APPLIED)  # not selected

    out = reprocess("--failed")

    assert out.splitlines() == [
        f"Event {event.pk} (call {call.uuid}): Error while processing → Applied "
        "(status Accepted by eSMS → Answered)",
        "1 event reprocessed (Applied: 1).",
    ]
    call.refresh_from_db()
    assert call.status == CallStatus.ANSWERED


def test_nothing_to_reprocess_is_said_and_is_no_error() -> None:
    failed(accepted(), EventOutcome.APPLIED)
    assert reprocess("--failed") == "No failed events to reprocess.\n"
    assert reprocess("--id", "999") == "No such events.\n"


def test_the_command_wants_to_be_told_which_events() -> None:
    with pytest.raises(CommandError, match="--failed, --id N, or both"):
        reprocess()


@pytest.mark.parametrize("since", ["yesterday", "2026-02-30", "2026-13-01T10:00"])
def test_a_bad_since_is_refused_clearly(since: str) -> None:
    with pytest.raises(CommandError, match=r"--since must be a date \(YYYY-MM-DD\) or an ISO"):
        reprocess("--failed", "--since", since)


@pytest.mark.parametrize("since", ["2026-03-02", "2026-03-01T12:00", "2026-03-01T12:00+07:00"])
def test_since_leaves_older_events_alone(since: str, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Ho_Chi_Minh"
    call = accepted()
    old, new = failed(call), failed(call)
    tz = dt.timezone(dt.timedelta(hours=7))
    CallbackEvent.objects.filter(pk=old.pk).update(
        received_at=dt.datetime(2026, 3, 1, 9, tzinfo=tz)
    )
    CallbackEvent.objects.filter(pk=new.pk).update(
        received_at=dt.datetime(2026, 3, 2, 9, tzinfo=tz)
    )

    out = reprocess("--failed", "--since", since)

    assert f"Event {new.pk} " in out
    assert f"Event {old.pk} " not in out
    old.refresh_from_db()
    assert (old.outcome, old.reprocess_count) == (EventOutcome.ERROR, 0)


def test_ids_select_events_and_an_event_already_processed_is_skipped() -> None:
    call = accepted()
    chosen, other = failed(call), failed(call)
    done = failed(call, EventOutcome.APPLIED)

    out = reprocess("--id", str(chosen.pk), str(done.pk))

    assert f"Event {done.pk} (call {call.uuid}): skipped, already processed (Applied)" in out
    assert (
        out.splitlines()[-1]
        == "1 event reprocessed (Applied: 1); 1 skipped: already processed (1)."
    )
    other.refresh_from_db()
    assert other.outcome == EventOutcome.ERROR


def test_a_dry_run_lists_and_changes_nothing() -> None:
    call = accepted()
    event = failed(call)

    out = reprocess("--failed", "--dry-run")

    assert out.splitlines() == [
        f"Event {event.pk} (call {call.uuid}): Error while processing, would be reprocessed",
        "1 event would be reprocessed.",
    ]
    event.refresh_from_db()
    call.refresh_from_db()
    assert (event.outcome, event.reprocess_count, call.status) == (
        EventOutcome.ERROR,
        0,
        CallStatus.ACCEPTED,
    )


def test_no_token_or_key_is_printed_or_logged(
    monkeypatch: pytest.MonkeyPatch, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ESMS_VOICE = {
        **settings.ESMS_VOICE,
        "API_KEY": API_KEY,
        "SECRET_KEY": SECRET_KEY,
        "CALLBACK_BASE_URL": "https://voice.example.test",
    }
    call = accepted()
    url = callback_url(call.uuid)
    token = url.rstrip("/").rsplit("/", 1)[1]
    event = failed(call)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"cannot reach {url}?ApiKey={API_KEY}&SecretKey={SECRET_KEY}")

    monkeypatch.setattr(results, "judge", broken)
    out = reprocess("--failed")

    assert f"Event {event.pk} (call {call.uuid}): Error while processing → Error while" in out
    assert "RuntimeError: cannot reach" in out
    shown = out + caplog.text  # tracebacks included
    for secret in (token, API_KEY, SECRET_KEY):
        assert secret not in shown
    event.refresh_from_db()
    assert (event.outcome, event.reprocess_count) == (EventOutcome.ERROR, 1)
    assert token not in event.error
    assert timezone.now() - event.reprocessed_at < dt.timedelta(minutes=1)
