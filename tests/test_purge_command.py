"""The esms_voice_purge command, the purge task, its beat entry and the retention settings."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.translation import override

from django_esms_voice.conf import read_settings
from django_esms_voice.models import CallbackEvent, VoiceCall
from django_esms_voice.schedule import PURGE_TASK, beat_schedule
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import purge_task

KEYS = {"API_KEY": "test-key", "SECRET_KEY": "test-secret"}
DAY = 86400
#: Settings with nothing to warn about: only the key under test can give a problem.
CLEAN = {**KEYS, "CALLBACK_BASE_URL": "https://shop.example.vn"}
RETENTION = {**KEYS, "EVENT_RAW_RETENTION": 30 * DAY, "CALL_ANONYMISE_AFTER": 90 * DAY}


def _old_calls(count: int, days_ago: int = 100) -> None:
    """Answered calls that ended days ago, each with one stored callback of that day."""
    calls = VoiceCall.objects.bulk_create(
        VoiceCall(kind="record", template_id="1", phone="0901888484", status=CallStatus.ANSWERED)
        for _ in range(count)
    )
    long_ago = timezone.now() - dt.timedelta(days=days_ago)
    VoiceCall.objects.update(completed_at=long_ago)
    CallbackEvent.objects.bulk_create(
        CallbackEvent(call=c, raw="phone=0901888484", remote_addr="203.0.113.9") for c in calls
    )
    CallbackEvent.objects.update(received_at=long_ago)


@pytest.mark.django_db
def test_the_command_prints_each_chunk_and_a_summary(settings: Any) -> None:
    settings.ESMS_VOICE = RETENTION
    _old_calls(5)
    out = StringIO()
    call_command("esms_voice_purge", "--chunk-size", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines == [
        "2 callback events emptied (2 so far)",
        "2 callback events emptied (4 so far)",
        "1 callback events emptied (5 so far)",
        "2 calls anonymised (2 so far)",
        "2 calls anonymised (4 so far)",
        "1 calls anonymised (5 so far)",
        "Purge finished: 5 callback events emptied, 5 calls anonymised.",
    ]
    assert set(VoiceCall.objects.values_list("phone", flat=True)) == {"*******484"}
    assert set(CallbackEvent.objects.values_list("raw", flat=True)) == {""}


@pytest.mark.django_db
def test_a_dry_run_counts_and_changes_nothing(settings: Any) -> None:
    settings.ESMS_VOICE = RETENTION
    _old_calls(3)
    out = StringIO()
    call_command("esms_voice_purge", "--dry-run", stdout=out)
    assert out.getvalue() == (
        "Purge finished: 3 callback events emptied, 3 calls anonymised "
        "(dry run: nothing changed).\n"
    )
    assert set(VoiceCall.objects.values_list("phone", flat=True)) == {"0901888484"}
    assert set(CallbackEvent.objects.values_list("raw", flat=True)) == {"phone=0901888484"}


@pytest.mark.django_db
def test_without_a_retention_setting_it_says_so_and_does_nothing(settings: Any) -> None:
    settings.ESMS_VOICE = KEYS
    _old_calls(2, days_ago=5000)
    out = StringIO()
    call_command("esms_voice_purge", stdout=out)
    assert "Nothing to purge" in out.getvalue()
    assert "EVENT_RAW_RETENTION" in out.getvalue()
    assert set(VoiceCall.objects.values_list("phone", flat=True)) == {"0901888484"}


@pytest.mark.django_db
def test_the_command_speaks_vietnamese(settings: Any) -> None:
    settings.ESMS_VOICE = RETENTION
    _old_calls(1)
    out = StringIO()
    with override("vi"):
        call_command("esms_voice_purge", stdout=out)
    assert "Purge" not in out.getvalue()
    assert "1 cuộc gọi đã được ẩn danh" in out.getvalue()


def test_a_zero_chunk_size_is_refused() -> None:
    with pytest.raises(CommandError, match="--chunk-size must be at least 1"):
        call_command("esms_voice_purge", "--chunk-size", "0")


@pytest.mark.django_db
def test_the_task_purges(settings: Any) -> None:
    settings.ESMS_VOICE = RETENTION
    _old_calls(2)
    assert purge_task.name == PURGE_TASK
    assert purge_task() == "2 events emptied, 2 calls anonymised"
    assert set(VoiceCall.objects.values_list("phone", flat=True)) == {"*******484"}


def test_beat_runs_the_purge_daily_only_when_a_retention_setting_is_set(settings: Any) -> None:
    settings.ESMS_VOICE = KEYS
    assert "esms-voice-purge" not in beat_schedule()
    for key in ("EVENT_RAW_RETENTION", "CALL_ANONYMISE_AFTER"):
        settings.ESMS_VOICE = {**KEYS, key: 30 * DAY}
        entry = beat_schedule()["esms-voice-purge"]
        assert entry == {"task": PURGE_TASK, "schedule": DAY, "options": {"expires": DAY}}
    assert "esms-voice-sweep" in beat_schedule()


@pytest.mark.parametrize("key", ["EVENT_RAW_RETENTION", "CALL_ANONYMISE_AFTER"])
def test_retention_settings_are_read_and_default_to_keeping(key: str) -> None:
    field = key.lower()
    assert getattr(read_settings(CLEAN)[0], field) is None
    voice, problems = read_settings({**CLEAN, key: 30 * DAY})
    assert (getattr(voice, field), problems) == (30.0 * DAY, [])
    voice, problems = read_settings({**CLEAN, key: None})
    assert (getattr(voice, field), problems) == (None, [])


@pytest.mark.parametrize("key", ["EVENT_RAW_RETENTION", "CALL_ANONYMISE_AFTER"])
@pytest.mark.parametrize("value", [-1, 0, 3600, "30 days", True, float("inf"), dt.timedelta(1)])
def test_a_bad_retention_is_an_error_naming_the_key(key: str, value: object) -> None:
    voice, problems = read_settings({**CLEAN, key: value})
    assert [p.id for p in problems] == ["esms_voice.E004"]
    assert f"ESMS_VOICE['{key}']" in problems[0].message
    assert "at least 86400" in problems[0].message
    assert getattr(voice, key.lower()) is None  # the default: keep, never purge by mistake
