"""The esms_voice_sweep command, the beat schedule helper and the rate-limit cache check."""

from __future__ import annotations

import datetime as dt
import logging
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone, translation

from django_esms_voice.checks import check_rate_limit_cache
from django_esms_voice.models import VoiceCall
from django_esms_voice.schedule import SWEEP_TASK, beat_schedule
from django_esms_voice.states import CallStatus

KEYS = {"API_KEY": "test-key", "SECRET_KEY": "test-secret"}


def _old_pending(count: int) -> list[VoiceCall]:
    """Create pending calls that the sweep's grace period has already passed."""
    calls = VoiceCall.objects.bulk_create(
        VoiceCall(kind="record", template_id="1", phone="0901888484") for _ in range(count)
    )
    long_ago = timezone.now() - dt.timedelta(hours=1)
    VoiceCall.objects.filter(pk__in=[c.pk for c in calls]).update(created_at=long_ago)
    return calls


@pytest.mark.django_db
def test_sweep_command_reenqueues_forgotten_pending_calls(django_capture_on_commit_callbacks):
    calls = _old_pending(3)
    out = StringIO()
    with (
        mock.patch("django_esms_voice.tasks.place_call_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("esms_voice_sweep", stdout=out)

    enqueued = sorted(c.args[0][0] for c in apply_async.call_args_list)
    assert enqueued == sorted(c.pk for c in calls)
    assert "3 pending re-enqueued" in out.getvalue()
    assert "Sweep finished." in out.getvalue()


@pytest.mark.django_db
def test_until_done_works_through_a_backlog_larger_than_a_batch(django_capture_on_commit_callbacks):
    calls = _old_pending(5)
    out = StringIO()
    with (
        mock.patch("django_esms_voice.tasks.place_call_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("esms_voice_sweep", "--batch-size", "2", "--until-done", stdout=out)

    assert apply_async.call_count == 5
    assert {c.args[0][0] for c in apply_async.call_args_list} == {c.pk for c in calls}
    assert "Pass 4:" in out.getvalue()  # 2 + 2 + 1, then a pass that finds nothing


@pytest.mark.django_db
def test_until_done_keeps_polling_past_a_call_esms_does_not_know_yet(settings):
    from django_esms_voice.backends import LOCMEM_BACKEND
    from django_esms_voice.testing import script_status

    settings.ESMS_VOICE = {**KEYS, "BACKEND": LOCMEM_BACKEND, "POLL_AFTER": 900}
    long_ago = timezone.now() - dt.timedelta(hours=1)
    polled_at = [None, long_ago - dt.timedelta(minutes=1), long_ago, long_ago]
    unknown, failing, first, second = VoiceCall.objects.bulk_create(
        VoiceCall(
            kind="record",
            template_id="1",
            phone="0901888484",
            status=CallStatus.ACCEPTED,
            smsid=f"5e1ec7ed-0000-4000-8000-00000000000{n}",
            submitted_at=long_ago,
            last_polled_at=polled_at[n],  # asked first: 105, then a poll that fails
        )
        for n in range(4)
    )
    script_status(failing, code="99")
    script_status(first, status="answered", duration=20)
    script_status(second, status="no_answer")
    out = StringIO()

    call_command("esms_voice_sweep", "--batch-size", "1", "--until-done", stdout=out)

    statuses = {c.pk: c.status for c in VoiceCall.objects.all()}
    assert statuses == {
        unknown.pk: CallStatus.ACCEPTED,  # both asked again by a later sweep
        failing.pk: CallStatus.ACCEPTED,
        first.pk: CallStatus.ANSWERED,
        second.pk: CallStatus.NO_ANSWER,
    }
    assert "(1 poll errors)" in out.getvalue()
    assert "Pass 5:" in out.getvalue()  # one poll a pass, then a pass that finds nothing
    assert "Pass 6:" not in out.getvalue()


@pytest.mark.django_db
def test_a_call_left_alone_by_the_sweep_stays_pending():
    VoiceCall.objects.create(kind="record", template_id="1", phone="0901888484")
    with mock.patch("django_esms_voice.tasks.place_call_task.apply_async") as apply_async:
        call_command("esms_voice_sweep", stdout=StringIO())
    apply_async.assert_not_called()
    assert VoiceCall.objects.get().status == CallStatus.PENDING


def test_a_zero_batch_size_is_refused():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("esms_voice_sweep", "--batch-size", "0")


def test_help_text_is_available():
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("esms_voice_sweep", "--help", stdout=out)


@override_settings(ESMS_VOICE={**KEYS, "SWEEP_INTERVAL": 42})
def test_beat_schedule_runs_the_sweep_task_every_sweep_interval():
    entry = beat_schedule()["esms-voice-sweep"]
    assert entry["task"] == SWEEP_TASK
    assert entry["schedule"] == 42.0
    assert entry["options"]["expires"] == 42.0


def test_the_sweep_task_is_registered_under_the_scheduled_name():
    from django_esms_voice.tasks import sweep_task

    assert sweep_task.name == SWEEP_TASK


LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SHARED = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "x"}}


@pytest.mark.parametrize(
    ("caches", "rate", "expected"),
    [
        (LOCMEM, 10, ["esms_voice.W004"]),
        (SHARED, 10, []),
        (LOCMEM, None, []),
    ],
)
def test_rate_limit_needs_a_shared_cache(caches, rate, expected):
    with override_settings(CACHES=caches, ESMS_VOICE={**KEYS, "RATE_LIMIT": rate}):
        assert [m.id for m in check_rate_limit_cache()] == expected


def test_a_settings_error_during_the_sweep_exits_with_its_message(monkeypatch):
    from django_esms_voice import services
    from django_esms_voice.exceptions import EsmsSettingsError

    def broken_sweep(**kwargs):
        raise EsmsSettingsError("ESMS_VOICE['TIMEOUT'] must be a positive number of seconds.")

    monkeypatch.setattr(services, "sweep", broken_sweep)
    with pytest.raises(CommandError, match=r"ESMS_VOICE\['TIMEOUT'\]"):
        call_command("esms_voice_sweep", stdout=StringIO())


@pytest.mark.django_db
def test_the_sweep_reports_calls_it_ends_as_charged_result_unknown(settings):
    settings.ESMS_VOICE = {**KEYS, "RESULT_TIMEOUT": 3600}
    call = VoiceCall.objects.create(
        kind="record",
        template_id="1",
        phone="0901888484",
        status=CallStatus.ACCEPTED,  # through 124: no SMSID, and its callback never came
        submitted_at=timezone.now() - dt.timedelta(seconds=3601),
    )
    out = StringIO()

    call_command("esms_voice_sweep", stdout=out)

    assert "1 ended without a result (charged, result unknown)" in out.getvalue()
    call.refresh_from_db()
    assert (call.status, call.last_error_code) == (CallStatus.UNKNOWN, "no_result")


ENGLISH_SUMMARY = (
    "0 pending re-enqueued, 0 stuck recovered, 0 polled (0 poll errors), 0 ended without a "
    "result (charged, result unknown), 0 campaigns completed"
)


@pytest.mark.django_db
def test_the_sweep_task_logs_in_english_under_another_language(caplog):
    # A log line is read by whoever runs the servers, and grepped: one language, English.
    from django_esms_voice.tasks import sweep_task

    with translation.override("vi"), caplog.at_level(logging.INFO, logger="django_esms_voice"):
        summary = sweep_task()

    (record,) = [r for r in caplog.records if r.name == "django_esms_voice.tasks"]
    assert record.getMessage() == f"eSMS voice sweep: {ENGLISH_SUMMARY}"
    assert summary == ENGLISH_SUMMARY


@pytest.mark.django_db
def test_the_sweep_command_still_prints_its_report_in_the_active_language():
    out = StringIO()
    with translation.override("vi"):
        call_command("esms_voice_sweep", stdout=out)
    assert "0 cuộc gọi chờ được xếp hàng lại" in out.getvalue()
