"""The API tests' helpers: its URLs, users with some permissions, calls to look at."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.signing import callback_token

CALLS = "/api/esms-voice/calls/"
SCHEMA = "/api/esms-voice/schema/"
CAMPAIGNS = "/api/esms-voice/campaigns/"
ACCOUNT = "/api/esms-voice/account/"
PHONE = "0901888484"
OTHER = "0912345678"
THIRD = "0987654321"
SETTINGS = {
    "API_KEY": "test-key",
    "SECRET_KEY": "test-secret",
    "CALLBACK_BASE_URL": "https://voice.example.test",
    "BACKEND": LOCMEM_BACKEND,
}
# Fields a call must never show: the database id, internals, anything that leads to the token.
HIDDEN = {"id", "pk", "event_fingerprints", "claimed_at", "next_attempt_at", "created_by", "token"}


def make_user(username: str, *codenames: str, **extra: Any) -> User:
    """Create a user with some of the app's model permissions."""
    user = User.objects.create_user(username, password="pw", **extra)
    perms = Permission.objects.filter(content_type__app_label="esms_voice", codename__in=codenames)
    assert perms.count() == len(codenames)
    user.user_permissions.add(*perms)
    return User.objects.get(pk=user.pk)  # fresh, without a stale permission cache


def client_for(user: User | None) -> APIClient:
    """Return an API client authenticated as user (None: anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def new_call(**fields: Any) -> VoiceCall:
    """Create a pending call without enqueuing it."""
    return services.create_call(enqueue=False, **{"phone": PHONE, "template_id": "rec-1", **fields})


def new_campaign(*phones: str, name: str = "reminders", **options: Any) -> Campaign:
    """Create a campaign of recording calls to these numbers, without enqueuing them."""
    calls = services.create_calls(
        [{"phone": phone, "template_id": "rec-1"} for phone in phones or (PHONE,)],
        campaign=name,
        enqueue=False,
        **options,
    )
    campaign = calls[0].campaign
    assert campaign is not None
    return campaign


def assert_public(data: dict[str, Any], call: VoiceCall) -> None:
    """Check that a call's representation hides the id and the callback token."""
    assert not HIDDEN & set(data)
    assert callback_token(call.uuid) not in str(data)
    assert data["uuid"] == str(call.uuid)


def batch_body(*phones: str, **extra: Any) -> dict[str, Any]:
    """A batch of recording calls to these numbers."""
    return {"calls": [{"phone": phone, "template_id": "rec-1"} for phone in phones], **extra}
