"""What keeps the API from spending twice or too fast: repeats, Idempotency-Key, the throttle."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.conf import API_THROTTLE_RATE, API_THROTTLE_SCOPE
from django_esms_voice.models import IdempotencyKey, VoiceCall
from tests.api.helpers import (
    CALLS,
    OTHER,
    PHONE,
    SETTINGS,
    THIRD,
    batch_body,
    client_for,
    make_user,
)
from tests.concurrency import at_once

pytestmark = pytest.mark.urls("tests.api.urls")


@pytest.mark.django_db
def test_a_batch_that_repeats_a_number_is_refused_unless_allow_repeats(placer: User) -> None:
    client = client_for(placer)
    # The same phone spelled two ways, as the admin's check compares them: normalised.
    response = client.post(CALLS, batch_body(PHONE, OTHER, "+84 90 188 84 84"), format="json")
    assert response.status_code == 400
    assert response.json() == {
        "calls": {
            "2": {
                "phone": [
                    "The same number as call 0 of this batch. Send “allow_repeats”: true to "
                    "call it more than once."
                ]
            }
        }
    }
    assert not VoiceCall.objects.exists()
    # A bare list is a batch too.
    response = client.post(CALLS, batch_body(PHONE, PHONE)["calls"], format="json")
    assert set(response.json()["calls"]) == {"1"}
    assert not VoiceCall.objects.exists()

    response = client.post(
        CALLS, batch_body(PHONE, OTHER, "+84 90 188 84 84", allow_repeats=True), format="json"
    )
    assert response.status_code == 201, response.data
    assert [c["phone"] for c in response.data["calls"]] == [PHONE, OTHER, PHONE]
    assert VoiceCall.objects.filter(phone=PHONE).count() == 2


@pytest.mark.django_db
def test_a_request_repeated_with_its_idempotency_key_gets_the_first_answer(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(placer)
    body = batch_body(PHONE, OTHER, batch="june")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
        again = client.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == 201, first.data
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert VoiceCall.objects.count() == 2
    assert apply_async.call_count == 2  # each call enqueued once
    # One call, not a batch, is kept the same way.
    one = {"phone": THIRD, "template_id": "rec-1"}
    answers = [client.post(CALLS, one, format="json", HTTP_IDEMPOTENCY_KEY="otp-1") for _ in "ab"]
    assert answers[0].json() == answers[1].json()
    assert VoiceCall.objects.filter(phone=THIRD).count() == 1
    # Keys are per user: someone else's "order-42" is their own batch.
    other = client_for(make_user("other", "place_voicecall"))
    response = other.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert VoiceCall.objects.count() == 5


@pytest.mark.django_db
def test_an_idempotency_key_reused_for_another_body_is_422(placer: User) -> None:
    client = client_for(placer)
    first = client.post(CALLS, batch_body(PHONE), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201
    response = client.post(CALLS, batch_body(OTHER), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was already used for another request: use a new key "
        "for a new request."
    }
    assert list(VoiceCall.objects.values_list("phone", flat=True)) == [PHONE]


@pytest.mark.django_db
def test_a_refused_request_does_not_use_up_its_idempotency_key(placer: User) -> None:
    client = client_for(placer)
    response = client.post(CALLS, batch_body("999"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    response = client.post(CALLS, batch_body(PHONE), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert VoiceCall.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "khóa", "two words"])
def test_an_idempotency_key_that_cannot_be_one_is_400(placer: User, key: str) -> None:
    response = client_for(placer).post(
        CALLS, batch_body(PHONE), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The Idempotency-Key header must be 1 to 255 visible ASCII characters."
    }
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_an_expired_idempotency_key_is_forgotten_and_purged_by_the_sweep(
    placer: User, settings: Any
) -> None:
    settings.ESMS_VOICE = {**SETTINGS, "IDEMPOTENCY_KEY_TTL": 7200}
    client = client_for(placer)
    for key in ("old", "recent"):
        response = client.post(CALLS, batch_body(PHONE), format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 201
    now = timezone.now()
    IdempotencyKey.objects.filter(key="old").update(created_at=now - dt.timedelta(seconds=7201))
    IdempotencyKey.objects.filter(key="recent").update(created_at=now - dt.timedelta(seconds=7199))
    response = client.post(CALLS, batch_body(PHONE), format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert "Idempotent-Replayed" not in response  # created again, as a new request
    assert VoiceCall.objects.count() == 3
    IdempotencyKey.objects.filter(key="old").update(created_at=now - dt.timedelta(days=2))
    services.sweep()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")  # waits on pg_locks
def test_two_requests_at_once_with_one_idempotency_key_create_the_batch_once(
    monkeypatch: pytest.MonkeyPatch, apply_async: mock.Mock
) -> None:
    client = client_for(make_user("placer", "place_voicecall"))
    body = batch_body(PHONE, OTHER)
    race = at_once(
        monkeypatch,
        lambda: client.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="double-click"),
    )
    assert race.waited == [True]  # the second waited for the first, then did not create
    first, second = race.results
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert sorted("Idempotent-Replayed" in r for r in race.results) == [False, True]
    assert VoiceCall.objects.count() == 2
    assert apply_async.call_count == 2


# ----------------------------------------------------------------------------- throttle


def spend(client: APIClient) -> int:
    """Post one valid call; return the status code."""
    return int(client.post(CALLS, {"phone": PHONE, "template_id": "1"}, format="json").status_code)


@pytest.mark.django_db
def test_creating_calls_is_throttled_at_the_documented_default_rate(placer: User) -> None:
    assert API_THROTTLE_RATE == "60/minute"  # docs/api.md says so
    client = client_for(placer)
    for _ in range(60):  # refused requests count too: each one could have spent
        assert client.post(CALLS, {"phone": "1"}, format="json").status_code == 400
    assert spend(client) == 429
    assert not VoiceCall.objects.exists()
    assert client.get(CALLS).status_code == 200  # reading is not limited
    assert spend(client_for(make_user("other", "place_voicecall"))) == 201  # per user


@pytest.mark.django_db
@pytest.mark.parametrize(("rate", "allowed"), [("2/minute", 2), (None, 70)])
def test_the_host_project_sets_the_throttle_rate_in_rest_framework(
    placer: User, apply_async: mock.Mock, rate: str | None, allowed: int
) -> None:
    rates = {"DEFAULT_THROTTLE_RATES": {API_THROTTLE_SCOPE: rate}}
    client = client_for(placer)
    with override_settings(REST_FRAMEWORK=rates):
        assert [spend(client) for _ in range(allowed)] == [201] * allowed
        if rate is not None:
            created = VoiceCall.objects.count()
            assert spend(client) == 429
            assert VoiceCall.objects.count() == created  # a throttled request places nothing
            assert client.get(CALLS).status_code == 200
