"""URGENT_QUEUE with real workers: an OTP is placed by the urgent worker, past a campaign."""

from __future__ import annotations

import pytest

from django_esms_voice import services
from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import Script

from .conftest import Harness, wait_until
from .placement import TEMPLATE, rows, statuses

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

OTP_PHONE = "0909000001"


def test_an_otp_is_placed_by_the_urgent_worker_while_the_campaign_waits(harness: Harness) -> None:
    urgent = f"{harness.queue}.urgent"
    harness.configure(
        URGENT_QUEUE=urgent, CALLING_WINDOWS={"advertising": None}, TIMEOUT=[1, 1], RETRY_BACKOFF=1
    )
    # A campaign in the default queue, which no worker here consumes.
    campaign = services.create_calls(rows(300), purpose="advertising")
    # The OTP's first request fails (HTTP 500): Celery's retry must come back to this queue.
    harness.sim.script(OTP_PHONE, Script(failures=["http_500"]))
    harness.start_worker(concurrency=4, queues=[urgent])

    code = services.create_call(phone=OTP_PHONE, template_id=TEMPLATE, purpose="transactional")

    wait_until(
        lambda: VoiceCall.objects.get(pk=code.pk).status == CallStatus.ACCEPTED,
        30,
        lambda: f"the OTP is {VoiceCall.objects.get(pk=code.pk).status}\n{harness.logs()}",
    )
    code.refresh_from_db()
    assert code.attempts == 2  # the HTTP 500, then the retry the urgent worker took
    sent = [r.code for r in harness.sim.requests if r.request_id == str(code.uuid)]
    assert sent == [None, "100"]
    # The urgent worker took nothing of the campaign's.
    assert statuses() == {CallStatus.ACCEPTED: 1, CallStatus.PENDING: len(campaign)}

    # And a worker on the default queue places the campaign, not the other way round.
    harness.start_worker(concurrency=16)
    wait_until(
        lambda: VoiceCall.objects.filter(status=CallStatus.ACCEPTED).count() == len(campaign) + 1,
        60,
        lambda: f"{statuses()}\n{harness.logs()}",
    )
