"""The callback event admin: read-only evidence, linked to its call."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from django_esms_voice.models import CallbackEvent, EventOutcome
from tests.admin.helpers import action_names, login, make_call, staff

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


def test_an_event_is_never_deleted_not_even_by_a_superuser(admin_client: Client) -> None:
    event = CallbackEvent.objects.create(call=make_call(), outcome=EventOutcome.INVALID)
    delete = reverse("admin:esms_voice_callbackevent_delete", args=[event.pk])
    page = admin_client.get(reverse("admin:esms_voice_callbackevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert delete not in page.content.decode()
    assert "deletelink" not in page.content.decode()
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    user = staff("events", "esms_voice.view_callbackevent", "esms_voice.delete_callbackevent")
    assert login(user).post(delete, {"post": "yes"}).status_code == 403
    assert CallbackEvent.objects.filter(pk=event.pk).exists()


def test_the_event_list_offers_no_delete_selected_action(admin_client: Client) -> None:
    event = CallbackEvent.objects.create(outcome=EventOutcome.INVALID)
    changelist = reverse("admin:esms_voice_callbackevent_changelist")
    assert "delete_selected" not in action_names(admin_client.get(changelist))
    posted = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert posted.status_code in (200, 302)
    assert CallbackEvent.objects.filter(pk=event.pk).exists()
