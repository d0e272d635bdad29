"""Secret script values in the API: taken on create, never given back, not kept for replays."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from django_esms_voice.models import IdempotencyKey, VoiceCall
from tests.api.helpers import CALLS, PHONE, client_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

OTP = "483920"


def otp_body(**fields: Any) -> dict[str, Any]:
    """A script call reading a one-time password."""
    body = {"phone": PHONE, "kind": "template", "template_id": "otp-1", "variables": [OTP]}
    return {**body, "purpose": "transactional", **fields}


def test_a_secret_call_is_created_and_its_values_never_come_back(placer: User) -> None:
    client = client_for(placer)
    created = client.post(CALLS, otp_body(), format="json", HTTP_IDEMPOTENCY_KEY="otp-7")
    replayed = client.post(CALLS, otp_body(), format="json", HTTP_IDEMPOTENCY_KEY="otp-7")

    assert created.status_code == 201, created.data
    call = VoiceCall.objects.get()
    assert (call.secret_variables, call.variables) == (True, [OTP])  # until eSMS has it
    uuid = created.json()["uuid"]
    shown = [created, replayed, client.get(f"{CALLS}{uuid}/"), client.get(CALLS)]
    for response in shown:
        assert response.status_code in (200, 201)
        assert OTP not in response.content.decode()
    assert created.json()["secret_variables"] is True
    assert created.json()["variables"] == []
    assert OTP not in str(list(IdempotencyKey.objects.values()))  # the replay's stored answer


@pytest.mark.parametrize(("given", "secret"), [(False, False), (None, True), (True, True)])
def test_secret_variables_can_be_given_or_left_to_the_purpose(
    placer: User, given: bool | None, secret: bool
) -> None:
    body = otp_body() if given is None else otp_body(secret_variables=given)
    response = client_for(placer).post(CALLS, body, format="json")
    assert response.status_code == 201, response.data
    assert VoiceCall.objects.get().secret_variables is secret


def test_a_recording_call_marked_secret_is_refused_on_its_field(placer: User) -> None:
    body = {"phone": PHONE, "template_id": "rec-1", "secret_variables": True}
    response = client_for(placer).post(CALLS, body, format="json")
    assert response.status_code == 400
    # On the script section's first field, as every script option on a recording call.
    assert response.json() == {
        "variables": ["These options belong to text-to-speech script calls: Secret script values."]
    }
