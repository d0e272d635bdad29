"""The callback event admin: read-only evidence, linked to its call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_esms_voice.models import CallbackEvent, EventOutcome
from tests.admin.helpers import login, make_call, staff

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def test_the_event_admin_is_read_only_and_links_to_the_call(admin_client: Client) -> None:
    call = make_call()
    event = CallbackEvent.objects.create(call=call, outcome=EventOutcome.INVALID, raw="x=1")
    response = admin_client.get(reverse("admin:esms_voice_callbackevent_changelist"))
    html = response.content.decode()
    assert reverse("admin:esms_voice_voicecall_change", args=[call.pk]) in html
    titles = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert {"outcome", "source"} <= titles
    assert admin_client.get(reverse("admin:esms_voice_callbackevent_add")).status_code == 403
    change = reverse("admin:esms_voice_callbackevent_change", args=[event.pk])
    assert admin_client.post(change, {"raw": "changed"}).status_code == 403
    found = admin_client.get(
        reverse("admin:esms_voice_callbackevent_changelist"), {"q": str(call.uuid)}
    )
    assert list(found.context["cl"].result_list) == [event]


def test_only_a_superuser_may_delete_an_event() -> None:
    event = CallbackEvent.objects.create(outcome=EventOutcome.INVALID)
    user = staff("events", "esms_voice.view_callbackevent", "esms_voice.delete_callbackevent")
    url = reverse("admin:esms_voice_callbackevent_delete", args=[event.pk])
    assert login(user).post(url, {"post": "yes"}).status_code == 403
    admin_user = User.objects.create_superuser("root", password="pw")
    assert login(admin_user).post(url, {"post": "yes"}).status_code == 302
    assert not CallbackEvent.objects.exists()
