"""A status refresh runs in a worker: each call is asked once, a failing one skips only itself."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest

from django_esms_voice import services
from django_esms_voice.esms.payloads import parse_call_result
from django_esms_voice.exceptions import EsmsTimeout
from django_esms_voice.models import CallbackEvent, VoiceCall
from django_esms_voice.services import results
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import refresh_statuses_task

from .helpers import ANSWERED, accepted_call, new_call

pytestmark = pytest.mark.django_db


class Scripted:
    """A backend whose GetSendStatus answers ANSWERED, or times out for the SMSIDs named."""

    def __init__(self, failing: set[str]) -> None:
        self.failing, self.asked = failing, []  # type: list[str]

    def get_send_status(self, smsid: str) -> Any:
        self.asked.append(smsid)
        if smsid in self.failing:
            raise EsmsTimeout("timed out after 10 s", endpoint="GetSendStatus")
        return parse_call_result({**ANSWERED, "ReferenceId": smsid})


def test_each_call_esms_has_is_asked_and_a_timeout_skips_only_that_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first, slow = accepted_call("SMS-A"), accepted_call("SMS-B", phone="0912345678")
    unsent = new_call(phone="0987654321")
    backend = Scripted(failing={"SMS-B"})
    monkeypatch.setattr(results, "get_backend", lambda: backend)

    with caplog.at_level(logging.WARNING, logger="django_esms_voice.services.refreshing"):
        report = refresh_statuses_task([first.pk, slow.pk, unsent.pk])

    assert report == "asked 1, changed 1, failed 1"
    assert backend.asked == ["SMS-A", "SMS-B"]  # the unsent call is never asked about
    first.refresh_from_db()
    slow.refresh_from_db()
    assert (first.status, slow.status) == (CallStatus.ANSWERED, CallStatus.ACCEPTED)
    assert CallbackEvent.objects.filter(call_id=first.uuid).count() == 1
    [warning] = caplog.records
    assert f"call {slow.pk} failed" in warning.getMessage()


def test_a_call_with_a_final_result_is_not_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    waiting, unknown = accepted_call("SMS-A"), accepted_call("SMS-B", phone="0912345678")
    answered = accepted_call("SMS-C", phone="0987654321")
    VoiceCall.objects.filter(pk=unknown.pk).update(status=CallStatus.UNKNOWN)
    VoiceCall.objects.filter(pk=answered.pk).update(status=CallStatus.NO_ANSWER)  # since selected
    backend = Scripted(failing=set())
    monkeypatch.setattr(results, "get_backend", lambda: backend)

    report = services.refresh_statuses([waiting.pk, unknown.pk, answered.pk])

    assert backend.asked == ["SMS-A", "SMS-B"]  # "unknown" awaits its result; "no answer" is one
    assert (report.asked, report.changed, report.failed) == (2, 2, 0)
    answered.refresh_from_db()
    assert answered.status == CallStatus.NO_ANSWER
    assert not CallbackEvent.objects.filter(call_id=answered.uuid).exists()


def test_the_refresh_is_one_message_to_the_worker() -> None:
    with mock.patch.object(refresh_statuses_task, "apply_async") as publish:
        assert services.enqueue_refresh([3, 1, 2]) is True
    [(args, _)] = [(c.args, c.kwargs) for c in publish.call_args_list]
    assert args == (([3, 1, 2],),)  # apply_async((ids,), ...)


def test_a_broker_outage_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with mock.patch.object(refresh_statuses_task, "apply_async", side_effect=OSError("down")):
        assert services.enqueue_refresh([1]) is False
    assert "Could not enqueue a status refresh of 1 calls" in caplog.text
