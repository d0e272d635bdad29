"""Placing one call from the add form, and reading pasted or uploaded numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_esms_voice import options
from django_esms_voice.admin import VoiceCallAdmin, adding
from django_esms_voice.admin.calls import SHOWN_INSTEAD
from django_esms_voice.admin.forms import CallManyForm, CallOptionsForm, option_fieldsets
from django_esms_voice.admin.rows import parse_csv, parse_pasted, split_variables
from django_esms_voice.models import VoiceCall
from django_esms_voice.money import format_dong as dong
from django_esms_voice.states import CallStatus
from django_esms_voice.testing import script_balance
from tests.admin.helpers import (
    CHANGELIST,
    PHONE,
    PLACE_PERMS,
    enqueued,
    login,
    make_call,
    messages_of,
    staff,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def add_data(**fields: str) -> dict[str, str]:
    data = {
        "phone": "+84 901 888 484",
        "kind": "record",
        "template_id": "1234",
        "variables": "",
        "voice": "",
        "speed": "",
        "ivr_key": "",
        "number_forward": "",
        "send_at_0": "",
        "send_at_1": "",
        "max_repeat": "",
        "max_retry": "",
        "time_wait_to_ivr": "",
        "wait_retry": "",
        "batch": "",
    }
    data.update(fields)
    return data


def place(client: Client, data: dict[str, str]) -> Any:
    """Save the add form, then confirm: the way one call is placed from the admin."""
    add = reverse("admin:esms_voice_voicecall_add")
    response = client.post(add, data)
    assert response.status_code == 200, response.context["adminform"].form.errors
    assert not VoiceCall.objects.exists()  # nothing before the confirmation
    return client.post(add, {"payload": response.context["payload"]})


def test_the_add_form_places_one_call_through_the_services(
    op: Client,
    operator: User,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    response = op.get(reverse("admin:esms_voice_voicecall_add"))
    assert response.status_code == 200
    assert "Place a call" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = place(op, add_data(ivr_key="1", number_forward="028 7100 2454"))
    call = VoiceCall.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:esms_voice_voicecall_change", args=[call.pk])
    assert (call.phone, call.number_forward, call.ivr_key) == (PHONE, "02871002454", 1)
    assert call.created_by == operator
    assert call.status == CallStatus.PENDING
    assert enqueued(apply_async) == [call.pk]
    assert LogEntry.objects.get().object_id == str(call.pk)  # in the call's history, as an add


def test_the_add_form_takes_script_variables_one_per_line(op: Client) -> None:
    response = place(
        op,
        add_data(kind="template", variables="Nguyễn Văn An\n150.000", voice="female", speed="1"),
    )
    assert response.status_code == 302
    call = VoiceCall.objects.get()
    assert (call.kind, call.variables, call.voice, call.speed) == (
        "template",
        ["Nguyễn Văn An", "150.000"],
        "female",
        1,
    )


def test_saving_the_add_form_asks_first_with_the_cost(op: Client, apply_async: mock.Mock) -> None:
    script_balance(250_000)
    make_call(status=CallStatus.ANSWERED, price=Decimal("800"))
    make_call(status=CallStatus.NO_ANSWER, price=Decimal("0"))
    response = op.post(
        reverse("admin:esms_voice_voicecall_add"),
        add_data(send_at_0="2099-01-02", send_at_1="08:30", batch="june"),
    )
    assert response.templates[0].name == "esms_voice/admin/place_call_confirm.html"
    html = response.content.decode()
    assert f"A call to {PHONE} will be placed for Jan. 2, 2099, 8:30 a.m.; eSMS charges" in html
    assert '<th scope="row">Kind</th><td>Recording</td>' in html
    assert '<th scope="row">Batch</th><td>june</td>' in html
    assert dong(250_000) in html
    assert f"about {dong(400)} (between {dong(0)} and {dong(800)})" in html
    assert 'value="Yes, place the call"' in html
    assert VoiceCall.objects.count() == 2  # the history only
    assert apply_async.call_args_list == []


def test_a_replayed_add_confirmation_places_nothing(
    op: Client,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    payload = op.post(add, add_data()).context["payload"]
    with django_capture_on_commit_callbacks(execute=True):
        first = op.post(add, {"payload": payload})
        call = VoiceCall.objects.get()
        again = op.post(add, {"payload": payload}, follow=True)
    assert VoiceCall.objects.count() == 1
    assert enqueued(apply_async) == [call.pk]
    assert again.redirect_chain[0][0] == first["Location"]  # the call placed the first time
    assert messages_of(again)[-1] == "This call was already placed. No new call was placed."


def test_an_add_confirmation_is_its_users_only(
    op: Client, operator: User, apply_async: mock.Mock
) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    payload = op.post(add, add_data()).context["payload"]
    other = login(staff("other", *PLACE_PERMS))
    response = other.post(add, {"payload": payload}, follow=True)
    assert not VoiceCall.objects.exists()
    assert "This confirmation has expired or is not yours" in messages_of(response)[0]
    forged = signing.dumps({"user": operator.pk, "nonce": "x", "data": {}}, salt="other")
    op.post(add, {"payload": forged})
    assert not VoiceCall.objects.exists()
    assert apply_async.call_args_list == []


def test_a_confirmation_whose_schedule_passed_places_nothing(
    op: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    soon = timezone.localtime() + dt.timedelta(minutes=5)
    data = add_data(send_at_0=f"{soon:%Y-%m-%d}", send_at_1=f"{soon:%H:%M:%S}")
    payload = op.post(add, data).context["payload"]
    later = timezone.now() + dt.timedelta(minutes=10)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = op.post(add, {"payload": payload}, follow=True)
    assert not VoiceCall.objects.exists()
    assert messages_of(response) == ["The call was not placed: This time is in the past."]


def test_save_and_add_another_comes_back_to_the_form_once_confirmed(op: Client) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    payload = op.post(add, {**add_data(), "_addanother": "1"}).context["payload"]
    response = op.post(add, {"payload": payload}, follow=True)
    assert response.redirect_chain[0][0] == add
    assert messages_of(response) == [f"The call to {PHONE} is queued."]
    assert VoiceCall.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"phone": "0901"}, "phone", "is not a valid Vietnamese phone number: it is too short"),
        ({"phone": "+1 650 253 0000"}, "phone", "not Vietnam (+84)"),
        (
            {"kind": "template", "variables": "An||Binh"},
            "variables",
            "Value 1 contains '||'",
        ),
        ({"ivr_key": "1"}, "ivr_key", "give both or neither"),
        ({"voice": "female"}, "variables", "belong to text-to-speech script calls"),
        (
            {"kind": "template", "ivr_key": "1", "number_forward": "0901888484"},
            "ivr_key",
            "recording calls only",
        ),
        ({"send_at_0": "2001-01-01", "send_at_1": "10:00"}, "send_at", "in the past"),
    ],
    ids=[
        "short-phone",
        "foreign-phone",
        "separator",
        "ivr-alone",
        "voice-on-recording",
        "ivr-on-script",
        "past",
    ],
)
def test_the_add_form_refuses_what_esms_would(
    op: Client, fields: dict[str, str], field: str, message: str
) -> None:
    response = op.post(reverse("admin:esms_voice_voicecall_add"), add_data(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert len([e for messages in errors.values() for e in messages]) == 1, errors
    assert not VoiceCall.objects.exists()


def test_placing_a_call_needs_the_place_permission(no_place: Client, viewer: User) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    assert no_place.get(add).status_code == 403
    assert no_place.post(add, add_data()).status_code == 403
    payload = signing.dumps(
        {"user": viewer.pk, "nonce": "n", "data": {}}, salt=adding.PLACE_CALL_SALT
    )
    assert no_place.post(add, {"payload": payload}).status_code == 403
    html = no_place.get(reverse(CHANGELIST)).content.decode()
    assert add not in html
    assert "Call many numbers" not in html
    assert not VoiceCall.objects.exists()


def test_row_parsing() -> None:
    assert split_variables("An, 150000") == ["An", "150000"]
    assert split_variables("An, Binh\n150,000") == ["An, Binh", "150,000"]
    assert split_variables("  ") == []
    rows = parse_pasted("0901888484,,\n\n# note\n0912345678\tA, B\t")
    assert [(r.line, r.phone, r.variables) for r in rows] == [
        (1, "0901888484", []),
        (4, "0912345678", ["A, B"]),
    ]
    rows = parse_csv(b'0901888484,"Nguyen, An",1\n')
    assert [(r.line, r.phone, r.variables) for r in rows] == [
        (1, "0901888484", ["Nguyen, An", "1"])
    ]
    with pytest.raises(Exception, match="not UTF-8"):
        parse_csv("0901888484,Café".encode("latin-1"))


# ----------------------------------------------------------------------------- from the options


def test_the_add_form_shows_every_option_staff_type_once_in_its_section() -> None:
    shown = [name for _, section in VoiceCallAdmin.add_fieldsets for name in section["fields"]]
    typed = [o.name for o in options.OPTIONS if o.name != "metadata"]
    assert sorted(shown) == sorted([*typed, "purpose"])  # the purpose: not sent to eSMS
    assert len(shown) == len(set(shown))
    [script] = [
        s["fields"] for title, s in VoiceCallAdmin.add_fieldsets if title and "script" in title
    ]
    assert script == tuple(o.name for o in options.OPTIONS if o.kinds == options.TEMPLATE)


def test_the_admin_forms_follow_the_options_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(CallOptionsForm().fields) == [
        "kind", "template_id", "secret_variables", "voice", "speed", "ivr_key",
        "number_forward", "send_at", "purpose", "frequency_cap",
    ]  # fmt: skip
    # Declared for both kinds and not shared by a batch, the speed moves with its declaration.
    changed = [
        dataclasses.replace(o, kinds=options.BOTH, shared=False) if o.name == "speed" else o
        for o in options.OPTIONS
    ]
    monkeypatch.setattr(options, "OPTIONS", tuple(changed))
    assert "speed" not in CallOptionsForm().fields
    assert "speed" not in CallManyForm().fields
    [first, *_] = option_fieldsets()
    assert "speed" in first[1]["fields"]


def test_the_call_page_shows_every_option_the_call_was_made_with(admin_client: Client) -> None:
    call = make_call(max_retry=2, wait_retry=60, batch="june")
    html = admin_client.get(
        reverse("admin:esms_voice_voicecall_change", args=[call.pk])
    ).content.decode()
    for name in (o.name for o in options.OPTIONS if o.name != "metadata"):
        shown = SHOWN_INSTEAD.get(name, name)  # secret values never appear as they are
        assert f"field-{shown}" in html, name


def test_the_add_form_explains_each_option_as_its_declaration_does(op: Client) -> None:
    form = op.get(reverse("admin:esms_voice_voicecall_add")).context["adminform"].form
    for option in options.OPTIONS:
        if option.help_text is not None and option.name in form.fields:
            assert form.fields[option.name].help_text == option.help_text, option.name
