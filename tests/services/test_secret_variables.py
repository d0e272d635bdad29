"""Secret script values (an OTP read out): sent to eSMS once, then wiped; never shown or logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import serializers

from django_esms_voice import secrecy, services
from django_esms_voice.exceptions import EsmsInputError
from django_esms_voice.models import CallbackEvent, IdempotencyKey, VoiceCall
from django_esms_voice.signals import call_status_changed
from django_esms_voice.states import CallStatus
from django_esms_voice.testing.simulator import EsmsSimulator, Script

from .helpers import PHONE, esms_settings, make_call_requests

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apply_async")]

OTP = "483920"


def otp_call(**fields: Any) -> VoiceCall:
    """A transactional script call reading a one-time password, not enqueued."""
    values = {"phone": PHONE, "kind": "template", "template_id": "otp-1"}
    values |= {"variables": [OTP, "5"], "purpose": "transactional", **fields}
    return services.create_call(enqueue=False, **values)


def everything_stored() -> str:
    """Every row the app keeps about calls, serialized: what a database dump would show."""
    rows = [*VoiceCall.objects.all(), *CallbackEvent.objects.all(), *IdempotencyKey.objects.all()]
    return serializers.serialize("json", rows)


def test_a_transactional_script_call_is_secret_unless_it_says_otherwise() -> None:
    assert otp_call().secret_variables is True
    assert otp_call(phone="0901000002", secret_variables=False).secret_variables is False
    care = otp_call(phone="0901000003", purpose="customer_care")
    assert care.secret_variables is False
    asked = otp_call(phone="0901000004", purpose="customer_care", secret_variables=True)
    assert asked.secret_variables is True
    assert asked.variables == [OTP, "5"]  # kept until eSMS has the call


def test_the_setting_decides_which_purposes_are_secret(sim: EsmsSimulator, settings: Any) -> None:
    settings.ESMS_VOICE = esms_settings(sim, SECRET_VARIABLE_PURPOSES=["customer_care"])
    assert otp_call().secret_variables is False
    assert otp_call(phone="0901000002", purpose="customer_care").secret_variables is True


def test_a_campaigns_calls_take_its_purposes_secrecy() -> None:
    campaign = services.create_campaign(name="otp", kind="template", purpose="transactional")
    call = services.create_call(
        phone=PHONE, kind="template", template_id="otp-1", variables=[OTP], campaign=campaign,
        enqueue=False,
    )  # fmt: skip
    assert (call.purpose, call.secret_variables) == ("transactional", True)


def test_a_recording_call_cannot_be_marked_secret() -> None:
    with pytest.raises(EsmsInputError, match="script calls"):
        services.create_call(phone=PHONE, template_id="rec-1", secret_variables=True)
    recorded = services.create_call(phone=PHONE, template_id="rec-1", purpose="transactional")
    assert recorded.secret_variables is False  # nothing to keep secret


def test_the_values_go_to_esms_once_then_only_the_marker_stays(
    sim: EsmsSimulator, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[list[str]] = []
    call_status_changed.connect(
        lambda call, **kwargs: seen.append(list(call.variables)), weak=False, dispatch_uid="seen"
    )
    try:
        call = otp_call()
        with django_capture_on_commit_callbacks(execute=True):  # the signal, after commit
            assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    finally:
        call_status_changed.disconnect(dispatch_uid="seen")

    (request,) = make_call_requests(sim)
    assert request.params["VariableListStr"] == f"{OTP}||5"
    call.refresh_from_db()
    assert (call.status, call.variables) == (CallStatus.ACCEPTED, secrecy.WIPED)
    assert seen == [secrecy.WIPED]  # receivers get the call as it now is
    assert OTP not in everything_stored()


def test_a_plain_script_call_keeps_its_values(sim: EsmsSimulator) -> None:
    call = otp_call(purpose="customer_care")
    services.place_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.variables) == (CallStatus.ACCEPTED, [OTP, "5"])


def test_a_refused_secret_call_is_wiped_and_cannot_be_retried(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(reject_code="104"))
    call = otp_call()
    assert services.place_call(call.pk).status == CallStatus.REJECTED
    call.refresh_from_db()
    assert call.variables == secrecy.WIPED

    with pytest.raises(EsmsInputError) as refused:
        services.retry_call(call)
    report = services.retry_calls(VoiceCall.objects.filter(pk=call.pk))

    assert refused.value.field == "variables"
    assert "make a new call" in str(refused.value)
    assert [str(error) for _call, error in report.refused] == [str(refused.value)]
    assert VoiceCall.objects.count() == 1  # the marker was never sent as a script value
    assert OTP not in everything_stored()


def test_a_wiped_call_is_never_sent_with_the_marker(sim: EsmsSimulator) -> None:
    call = otp_call()
    VoiceCall.objects.filter(pk=call.pk).update(variables=secrecy.WIPED)
    call.refresh_from_db()
    with pytest.raises(EsmsInputError, match="wiped"):
        call.build_request()


def test_a_failed_attempt_keeps_the_values_for_the_next_one(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(failures=["http_500"]))
    call = otp_call()
    first = services.place_call(call.pk)
    call.refresh_from_db()
    assert (first.status, call.variables) == (CallStatus.PENDING, [OTP, "5"])
    assert OTP not in call.last_error_message

    assert services.place_call(call.pk).status == CallStatus.ACCEPTED
    call.refresh_from_db()
    assert call.variables == secrecy.WIPED
    assert [r.params["VariableListStr"] for r in make_call_requests(sim)] == [f"{OTP}||5"] * 2


def test_canceled_secret_calls_are_wiped_one_or_many() -> None:
    one, many = otp_call(), otp_call(phone="0901000002")
    plain = otp_call(phone="0901000003", secret_variables=False)
    assert services.cancel_call(one)
    services.cancel_calls(VoiceCall.objects.filter(pk__in=[many.pk, plain.pk]))
    stored = dict(VoiceCall.objects.values_list("pk", "variables"))
    assert stored == {one.pk: secrecy.WIPED, many.pk: secrecy.WIPED, plain.pk: [OTP, "5"]}


def test_no_log_record_of_the_placement_holds_the_values(
    sim: EsmsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    # urllib3 writes each request line, query string included, at DEBUG.
    sim.script(PHONE, Script(failures=["http_500"]))
    call = otp_call()
    with caplog.at_level(logging.DEBUG):
        services.place_call(call.pk)
        services.place_call(call.pk)
    assert any("MakeCallTemplate" in r.getMessage() for r in caplog.records), "no request line"
    assert OTP not in caplog.text
    assert all(OTP not in r.getMessage() for r in caplog.records)


def test_reprs_never_hold_the_values() -> None:
    call = otp_call()
    assert OTP not in repr(call)
    assert OTP not in repr(call.build_request("https://voice.example.test/cb/"))
    assert OTP not in str(call)
