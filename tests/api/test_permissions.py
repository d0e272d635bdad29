"""The API's permissions: each action needs its model permission; anonymous clients are refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from django_esms_voice.models import VoiceCall
from tests.api.helpers import (
    CALLS,
    PHONE,
    client_for,
    make_user,
    new_call,
)

pytestmark = pytest.mark.urls("tests.api.urls")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codenames", "create", "read", "cancel"),
    [
        ((), 403, 403, 403),
        (("view_voicecall",), 403, 200, 403),
        (("view_voicecall", "place_voicecall"), 201, 200, 403),
        (("place_voicecall",), 201, 403, 403),
        (("view_voicecall", "change_voicecall"), 403, 200, 200),
        (("add_voicecall", "view_voicecall"), 403, 200, 403),  # adding is not placing
    ],
)
def test_each_action_needs_its_permission(
    codenames: tuple[str, ...], create: int, read: int, cancel: int
) -> None:
    call = new_call()
    client = client_for(make_user("someone", *codenames))
    created = client.post(CALLS, {"phone": PHONE, "template_id": "1"}, format="json")
    assert created.status_code == create
    assert client.get(CALLS).status_code == read
    assert client.get(f"{CALLS}{call.uuid}/").status_code == read
    assert client.post(f"{CALLS}{call.uuid}/cancel/").status_code == cancel
    assert VoiceCall.objects.count() == (2 if create == 201 else 1)


@pytest.mark.django_db
def test_anonymous_clients_are_refused() -> None:
    call = new_call()
    client = client_for(None)
    assert client.get(CALLS).status_code in (401, 403)
    assert client.get(f"{CALLS}{call.uuid}/").status_code in (401, 403)
    assert client.post(CALLS, {"phone": PHONE, "template_id": "1"}).status_code in (401, 403)
    assert client.post(f"{CALLS}{call.uuid}/cancel/").status_code in (401, 403)
    assert VoiceCall.objects.count() == 1


@pytest.mark.django_db
def test_the_host_projects_default_permission_classes_apply_too(placer: User) -> None:
    staff = make_user("staff", "place_voicecall", "view_voicecall", is_staff=True)
    admin_only = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]}
    with override_settings(REST_FRAMEWORK=admin_only):
        assert client_for(placer).get(CALLS).status_code == 403  # has the perms, not staff
        assert client_for(staff).get(CALLS).status_code == 200
