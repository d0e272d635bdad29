"""What the admin tests share: numbers, URLs, users with given permissions, a few readers."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_esms_voice.models import CallKind, VoiceCall

PHONE = "0901888484"
OTHER = "0912345678"
THIRD = "0987654321"
CHANGELIST = "admin:esms_voice_voicecall_changelist"
CALL_MANY = "admin:esms_voice_voicecall_call_many"
HOST_CHANGELIST = "/host-admin/auth/user/"
HOST_ACTION = "esms_voice_call_last_name"
CALL_OBJECTS_URL = "/host-admin/esms_voice/voicecall/call-objects/"
VOICE_PERMS = ("esms_voice.view_voicecall", "esms_voice.change_voicecall")
PLACE_PERMS = (*VOICE_PERMS, "esms_voice.add_voicecall", "esms_voice.place_voicecall")


def enqueued(fake: mock.Mock) -> list[int]:
    return [c.args[0][0] for c in fake.call_args_list]


def staff(username: str, *codenames: str) -> User:
    """A staff user with these permissions ("app_label.codename")."""
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_call(**fields: Any) -> VoiceCall:
    values: dict[str, Any] = {"phone": PHONE, "kind": CallKind.RECORD, "template_id": "1234"}
    values.update(fields)
    return VoiceCall.objects.create(**values)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def action_names(response: Any) -> set[str]:
    form = response.context["action_form"]
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def changelist_url(**params: str) -> str:
    url = reverse(CHANGELIST)
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def campaign_page(campaign: Any, view: str = "change") -> str:
    """The URL of a campaign's page (or of another of its views: pause, progress...)."""
    return reverse(f"admin:esms_voice_campaign_{view}", args=[campaign.pk])


def many_data(**fields: Any) -> dict[str, Any]:
    data = {
        "numbers": "",
        "kind": "record",
        "template_id": "1234",
        "voice": "",
        "speed": "",
        "ivr_key": "",
        "number_forward": "",
        "send_at_0": "",
        "send_at_1": "",
        "batch": "",
    }
    data.update(fields)
    return data
