"""The account through the API: whether placement is paused, why, what to do; resuming it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.models import AccountPause, ResumedBy
from django_esms_voice.signing import callback_token
from tests.api.helpers import ACCOUNT, SETTINGS, client_for, make_user, new_call

pytestmark = pytest.mark.urls("tests.api.urls")

NOT_PAUSED = {
    "paused": False,
    "code": None,
    "meaning": None,
    "since": None,
    "advice": None,
    "last_balance_check": None,
}


@pytest.mark.django_db
def test_the_account_says_when_placement_runs(admin: APIClient) -> None:
    response = admin.get(ACCOUNT)
    assert response.status_code == 200
    assert response.json() == NOT_PAUSED


@pytest.mark.django_db
def test_a_paused_account_says_why_since_when_and_what_to_do(admin: APIClient) -> None:
    call = new_call()
    services.pause_placement("103", "Balance not enough", call)
    checked = timezone.now() - dt.timedelta(minutes=2)
    AccountPause.objects.update(last_probe_at=checked, last_balance=Decimal("2500"))
    pause = AccountPause.objects.get()

    data = admin.get(ACCOUNT).json()

    assert data["paused"] is True
    assert data["code"] == "103"
    assert "balance" in data["meaning"].lower()
    assert data["advice"] == str(services.account.ADVICE["103"])
    assert dt.datetime.fromisoformat(data["since"]) == pause.started_at
    check = data["last_balance_check"]
    assert dt.datetime.fromisoformat(check.pop("at")) == checked
    assert check == {"balance": "2500.0000", "error": ""}


@pytest.mark.django_db
def test_the_account_never_shows_the_keys_or_a_callback_token(admin: APIClient) -> None:
    call = new_call()
    token = callback_token(call.uuid)
    message = (
        f"ApiKey={SETTINGS['API_KEY']}&SecretKey={SETTINGS['SECRET_KEY']} CallbackUrl="
        f"{SETTINGS['CALLBACK_BASE_URL']}/esms-voice/callback/{call.uuid}/{token}/"
    )
    services.pause_placement("101", message, call)
    AccountPause.objects.update(last_probe_at=timezone.now(), last_probe_error=message)

    body = admin.get(ACCOUNT).content.decode()

    assert '"code":"101"' in body
    for secret in (SETTINGS["API_KEY"], SETTINGS["SECRET_KEY"], token):
        assert secret not in body


@pytest.mark.django_db
def test_resume_ends_the_pause_and_sends_the_waiting_calls(
    apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    waiting = new_call()
    services.pause_placement("140", "IP not allowed", waiting)
    user = make_user("ops", "place_voicecall")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(f"{ACCOUNT}resume/")

    assert response.status_code == 200, response.data
    assert response.json() == NOT_PAUSED
    pause = AccountPause.objects.get()
    assert (pause.is_open, pause.ended_by, pause.ended_by_user) == (
        False, ResumedBy.OPERATOR, user,
    )  # fmt: skip
    assert [c.args[0] for c in apply_async.call_args_list] == [(waiting.pk,)]


@pytest.mark.django_db
def test_resume_when_not_paused_is_a_409(admin: APIClient) -> None:
    response = admin.post(f"{ACCOUNT}resume/")
    assert response.status_code == 409
    assert response.json() == {"detail": "Placement is not paused: there is nothing to resume."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codenames", "staff", "read", "resume"),
    [
        ((), True, 403, 403),  # staff is not a permission
        (("view_campaign", "run_campaign", "change_voicecall"), True, 403, 403),
        (("view_voicecall",), False, 200, 403),
        (("place_voicecall",), False, 403, 200),
    ],
)
def test_reading_needs_view_voicecall_and_resuming_place_voicecall(
    codenames: tuple[str, ...], staff: bool, read: int, resume: int
) -> None:
    services.pause_placement("103", "Balance not enough")
    client = client_for(make_user("someone", *codenames, is_staff=staff))
    assert client.get(ACCOUNT).status_code == read
    assert client.post(f"{ACCOUNT}resume/").status_code == resume
    assert AccountPause.objects.get().is_open == (resume != 200)


@pytest.mark.django_db
def test_anonymous_clients_are_refused(django_user_model: type[User]) -> None:
    services.pause_placement("103", "Balance not enough")
    client = client_for(None)
    assert client.get(ACCOUNT).status_code in (401, 403)
    assert client.post(f"{ACCOUNT}resume/").status_code in (401, 403)
    assert AccountPause.objects.get().is_open
