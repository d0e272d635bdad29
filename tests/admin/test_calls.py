"""The admin: the call list, a call's page, the forms and actions that place calls, permissions.

auth.User stands in for a host project's model in the call_action() tests: its last_name holds
the phone number and its first_name a script variable, on an admin site of this module's own.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django.utils import timezone, translation

from django_esms_voice import admin as voice_admin
from django_esms_voice import admin_actions, services
from django_esms_voice.admin import BatchFilter, VoiceCallAdmin, call_action
from django_esms_voice.admin_forms import parse_csv, parse_pasted, split_variables
from django_esms_voice.models import (
    CallbackEvent,
    CallKind,
    EventOutcome,
    EventSource,
    VoiceCall,
)
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import place_call_task
from tests.concurrency import at_once

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PHONE = "0901888484"
OTHER = "0912345678"
THIRD = "0987654321"
CHANGELIST = "admin:esms_voice_voicecall_changelist"

# ----------------------------------------------------------------------------- a host model


class UserAsHostAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A host project's admin: call the users' phones (last_name), reading first_name."""

    actions = [call_action(phone_field="last_name", variables=["first_name"])]


host_site = admin.AdminSite(name="hostadmin")
host_site.register(User, UserAsHostAdmin)
host_site.register(VoiceCall, VoiceCallAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("host-admin/", host_site.urls),
    path("esms-voice/", include("django_esms_voice.urls")),
]
HOST_CHANGELIST = "/host-admin/auth/user/"
HOST_ACTION = "esms_voice_call_last_name"
CALL_OBJECTS_URL = "/host-admin/esms_voice/voicecall/call-objects/"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: record what would be enqueued."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    return fake


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


VOICE_PERMS = ("esms_voice.view_voicecall", "esms_voice.change_voicecall")
PLACE_PERMS = (*VOICE_PERMS, "esms_voice.add_voicecall", "esms_voice.place_voicecall")


@pytest.fixture
def operator() -> User:
    """Staff who may place calls (and see users, the stand-in host model)."""
    return staff("operator", *PLACE_PERMS, "auth.view_user")


@pytest.fixture
def viewer() -> User:
    """Staff who may see and change calls and add them, but not spend money."""
    return staff("viewer", *VOICE_PERMS, "esms_voice.add_voicecall", "auth.view_user")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def op(operator: User) -> Client:
    return login(operator)


@pytest.fixture
def no_place(viewer: User) -> Client:
    return login(viewer)


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


# ----------------------------------------------------------------------------- the list


def test_the_list_shows_status_badges_filters_and_the_placing_links(admin_client: Client) -> None:
    make_call(status=CallStatus.ANSWERED, batch="june", duration=13, ivr_pressed="1")
    make_call(phone=OTHER, status=CallStatus.PENDING)
    response = admin_client.get(changelist_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="esms-voice-status esms-voice-status-answered">Answered</span>' in html
    assert "esms-voice-status-pending" in html
    assert "esms_voice/admin.css" in html
    titles = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert {"status", "kind", "created", "batch", "no result after"} <= titles
    assert reverse("admin:esms_voice_voicecall_add") in html
    assert "Place a call" in html
    assert "Call many numbers" in html
    assert reverse("admin:esms_voice_voicecall_call_many") in html
    assert action_names(response) == {
        "place_now",
        "retry_calls",
        "cancel_calls",
        "refresh_calls",
        "delete_selected",
    }


def test_a_call_charged_with_its_result_unknown_is_shown_and_filtered(admin_client: Client) -> None:
    unknown = make_call(status=CallStatus.UNKNOWN, last_error_code="no_result")
    make_call(phone=OTHER, status=CallStatus.ERROR)

    response = admin_client.get(changelist_url(status__exact=CallStatus.UNKNOWN))

    html = response.content.decode()
    assert '<span class="esms-voice-status esms-voice-status-unknown">' in html
    assert "Charged, result unknown" in html
    assert list(response.context["cl"].result_list) == [unknown]
    with translation.override("vi"):
        assert str(CallStatus.UNKNOWN.label) == "Đã tính cước, không rõ kết quả"


def test_every_status_has_a_badge_colour() -> None:
    css = (Path(voice_admin.__file__).parent / "static/esms_voice/admin.css").read_text()
    assert [s for s in CallStatus.values if not re.search(rf"\.esms-voice-status-{s}\b", css)] == []


@pytest.mark.parametrize("count", [10, 1000])
def test_the_list_makes_the_same_few_queries_at_10_and_1000_calls(
    count: int, admin_client: Client, django_assert_num_queries: Any
) -> None:
    now = timezone.now()
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=f"0901{i:06d}",
            kind=CallKind.RECORD,
            template_id="1234",
            status=CallStatus.ANSWERED if i % 2 else CallStatus.PENDING,
            batch=f"batch-{i % 3}",
            created_at=now - dt.timedelta(minutes=i),
        )
        for i in range(count)
    )
    admin_client.get(changelist_url())  # warm the content type and permission caches
    # session, user, batch filter choices, date hierarchy (MIN/MAX twice), count, page of rows;
    # PostgreSQL first reads the planner's row estimate.
    expected = 7 + (connection.vendor == "postgresql")
    with django_assert_num_queries(expected):
        response = admin_client.get(changelist_url())
    assert response.status_code == 200
    assert response.context["cl"].result_count == count
    assert len(response.context["cl"].result_list) == min(count, 100)


def test_the_date_hierarchy_reads_min_and_max_not_every_row(admin_client: Client) -> None:
    now = timezone.localtime()
    make_call(created_at=now)
    old = make_call(phone=OTHER)
    VoiceCall.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=800))
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(changelist_url())
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
    html = response.content.decode()
    for year in range((now - dt.timedelta(days=800)).year, now.year + 1):
        assert f"created_at__year={year}" in html
    response = admin_client.get(changelist_url(created_at__year=str(now.year)))
    assert response.status_code == 200
    assert f"created_at__month={now.month}" in response.content.decode()


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("+84 901 888 484", {PHONE}),
        ("0901888484", {PHONE}),
        ("SMS-ABC-1", {OTHER}),
        ("sms-abc-1", {OTHER}),
        ("no such thing", set()),
        ("0901", set()),
    ],
)
def test_search_matches_a_phone_an_smsid_or_a_uuid_exactly(
    admin_client: Client, term: str, found: set[str]
) -> None:
    make_call(phone=PHONE)
    make_call(phone=OTHER, smsid="SMS-ABC-1")
    make_call(phone=THIRD)
    response = admin_client.get(reverse(CHANGELIST), {"q": term})
    assert {call.phone for call in response.context["cl"].result_list} == found


def test_search_by_uuid(admin_client: Client) -> None:
    call = make_call()
    make_call(phone=OTHER)
    response = admin_client.get(reverse(CHANGELIST), {"q": str(call.uuid).upper()})
    assert [c.pk for c in response.context["cl"].result_list] == [call.pk]


def test_no_result_after_lists_open_calls_that_are_overdue(admin_client: Client) -> None:
    now = timezone.now()
    overdue = make_call(status=CallStatus.ACCEPTED)
    recent = make_call(phone=OTHER, status=CallStatus.IN_PROGRESS)
    done = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    scheduled = make_call(
        phone="0987000111", status=CallStatus.PENDING, send_at=now + dt.timedelta(hours=1)
    )
    VoiceCall.objects.filter(pk__in=[overdue.pk, done.pk, scheduled.pk]).update(
        created_at=now - dt.timedelta(hours=2)
    )
    VoiceCall.objects.filter(pk=recent.pk).update(created_at=now - dt.timedelta(minutes=5))

    def listed(minutes: str) -> set[int]:
        response = admin_client.get(reverse(CHANGELIST), {"no_result_after": minutes})
        return {call.pk for call in response.context["cl"].result_list}

    assert listed("15") == {overdue.pk}
    assert listed("60") == {overdue.pk}
    assert listed("240") == set()


def test_the_batch_filter_offers_recent_batches(admin_client: Client) -> None:
    make_call(batch="june-reminders")
    make_call(phone=OTHER, batch="june-reminders")
    make_call(phone=THIRD, batch="otp")
    make_call(phone="0987000111")
    response = admin_client.get(reverse(CHANGELIST))
    [spec] = [s for s in response.context["cl"].filter_specs if isinstance(s, BatchFilter)]
    assert sorted(value for value, _ in spec.lookup_choices) == ["june-reminders", "otp"]
    response = admin_client.get(reverse(CHANGELIST), {"batch": "june-reminders"})
    assert len(response.context["cl"].result_list) == 2
    # An old batch reached through a link is still shown as selected.
    response = admin_client.get(reverse(CHANGELIST), {"batch": "long-ago"})
    [spec] = [s for s in response.context["cl"].filter_specs if isinstance(s, BatchFilter)]
    assert ("long-ago", "long-ago") in spec.lookup_choices


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class is PostgreSQL's")
def test_a_big_unfiltered_list_is_counted_from_the_planner_estimate(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    VoiceCall.objects.bulk_create(
        VoiceCall(phone=f"0901{i:06d}", kind=CallKind.RECORD, template_id="1") for i in range(150)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {VoiceCall._meta.db_table}")
    monkeypatch.setattr(voice_admin, "ESTIMATE_ABOVE", 100)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].result_count == 150
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST), {"status__exact": "pending"})
    assert response.context["cl"].result_count == 150
    assert [q for q in queries if "COUNT(" in q["sql"].upper()]


# ----------------------------------------------------------------------------- one call's page


def test_a_calls_page_is_read_only_with_its_events_and_timeline(admin_client: Client) -> None:
    call = make_call(status=CallStatus.ANSWERED, smsid="SMS-1", duration=13, price="500")
    now = timezone.now()
    VoiceCall.objects.filter(pk=call.pk).update(
        submitted_at=now - dt.timedelta(seconds=30), completed_at=now
    )
    CallbackEvent.objects.create(
        call=call,
        source=EventSource.CALLBACK,
        outcome=EventOutcome.APPLIED,
        old_status=CallStatus.ACCEPTED,
        new_status=CallStatus.ANSWERED,
        parsed={"send_status": 5, "call_status": "ANSWERED", "call_duration": 13},
    )
    url = reverse("admin:esms_voice_voicecall_change", args=[call.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert 'name="phone"' not in html  # shown, not editable
    assert "esms-voice-timeline" in html
    for step in (
        "Created",
        "Accepted by eSMS",
        "Callback from eSMS: Applied",
        "Completed: Answered",
    ):
        assert step in html
    assert "Accepted by eSMS → Answered" in html
    # The callback that ended the call comes before "Completed", though stored just after it.
    assert html.index("Callback from eSMS: Applied") < html.index("Completed: Answered")
    assert "SendStatus=5, CallStatus=ANSWERED, CallDuration=13" in html
    assert admin_client.post(url, {"phone": OTHER}).status_code == 403


def test_the_events_inline_shows_the_newest_ones_only(admin_client: Client) -> None:
    call = make_call(status=CallStatus.ACCEPTED)
    CallbackEvent.objects.bulk_create(
        CallbackEvent(call=call, outcome=EventOutcome.DUPLICATE, raw=f"n={i}") for i in range(60)
    )
    response = admin_client.get(reverse("admin:esms_voice_voicecall_change", args=[call.pk]))
    [inline] = response.context["inline_admin_formsets"]
    shown = [form.instance for form in inline.formset.forms]
    assert len(shown) == voice_admin.EVENTS_SHOWN
    assert [e.raw for e in shown[:2]] == ["n=59", "n=58"]


def test_a_retry_links_to_the_call_it_retries(admin_client: Client) -> None:
    old = make_call(status=CallStatus.REJECTED)
    new = make_call(retry_of=old)
    html = admin_client.get(
        reverse("admin:esms_voice_voicecall_change", args=[old.pk])
    ).content.decode()
    assert f"retried as #{new.pk}" in html
    html = admin_client.get(
        reverse("admin:esms_voice_voicecall_change", args=[new.pk])
    ).content.decode()
    assert f"retry of #{old.pk}" in html


# ----------------------------------------------------------------------------- callback events


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
    event = CallbackEvent.objects.create(outcome=EventOutcome.UNMATCHED)
    user = staff("events", "esms_voice.view_callbackevent", "esms_voice.delete_callbackevent")
    url = reverse("admin:esms_voice_callbackevent_delete", args=[event.pk])
    assert login(user).post(url, {"post": "yes"}).status_code == 403
    admin_user = User.objects.create_superuser("root", password="pw")
    assert login(admin_user).post(url, {"post": "yes"}).status_code == 302
    assert not CallbackEvent.objects.exists()


# ----------------------------------------------------------------------------- place a call


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
        response = op.post(
            reverse("admin:esms_voice_voicecall_add"),
            add_data(ivr_key="1", number_forward="028 7100 2454"),
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    call = VoiceCall.objects.get()
    assert (call.phone, call.number_forward, call.ivr_key) == (PHONE, "02871002454", 1)
    assert call.created_by == operator
    assert call.status == CallStatus.PENDING
    assert enqueued(apply_async) == [call.pk]


def test_the_add_form_takes_script_variables_one_per_line(op: Client) -> None:
    response = op.post(
        reverse("admin:esms_voice_voicecall_add"),
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


def test_placing_a_call_needs_the_place_permission(no_place: Client) -> None:
    add = reverse("admin:esms_voice_voicecall_add")
    assert no_place.get(add).status_code == 403
    assert no_place.post(add, add_data()).status_code == 403
    html = no_place.get(reverse(CHANGELIST)).content.decode()
    assert add not in html
    assert "Call many numbers" not in html
    assert not VoiceCall.objects.exists()


# ----------------------------------------------------------------------------- changelist actions


def run_action(client: Client, action: str, calls: list[VoiceCall], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(c.pk) for c in calls], **extra}
    if "post" not in extra:
        data["index"] = "0"
    return client.post(reverse(CHANGELIST), data, follow="post" in extra)


def test_money_actions_are_hidden_without_the_place_permission(
    no_place: Client, apply_async: mock.Mock
) -> None:
    pending = make_call()
    response = no_place.get(reverse(CHANGELIST))
    assert action_names(response) == {"cancel_calls", "refresh_calls"}
    # A forged POST of a hidden action does nothing.
    response = no_place.post(
        reverse(CHANGELIST),
        {"action": "place_now", "_selected_action": [pending.pk], "index": "0", "post": "yes"},
        follow=True,
    )
    assert "No action selected." in messages_of(response)
    assert apply_async.call_args_list == []


def test_place_now_asks_first_then_queues_the_pending_calls(
    op: Client, apply_async: mock.Mock
) -> None:
    pending = [make_call(), make_call(phone=OTHER)]
    answered = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    response = run_action(op, "place_now", [*pending, answered])
    assert response.status_code == 200
    assert response.templates[0].name == "esms_voice/admin/confirm_action.html"
    html = response.content.decode()
    assert "2 calls will be placed now. eSMS charges for each of them." in html
    assert "Not pending" in html
    assert "Status “Answered”: only pending calls are placed." in html
    assert 'value="Yes, place 2 calls"' in html
    assert apply_async.call_args_list == []

    response = run_action(op, "place_now", [*pending, answered], post="yes")
    assert messages_of(response) == ["2 calls queued, 1 skipped: not pending."]
    assert sorted(enqueued(apply_async)) == sorted(c.pk for c in pending)


def test_place_now_across_a_filtered_list(op: Client, apply_async: mock.Mock) -> None:
    calls = [make_call(phone=f"0901{i:06d}", batch="b") for i in range(3)]
    make_call(phone=THIRD, batch="other")
    url = changelist_url(batch="b")
    data = {"action": "place_now", "_selected_action": [calls[0].pk], "select_across": "1"}
    response = op.post(url, {**data, "index": "0"})
    assert "3 calls will be placed now" in response.content.decode()
    assert 'name="select_across" value="1"' in response.content.decode()
    response = op.post(url, {**data, "index": "0", "post": "yes"}, follow=True)
    assert messages_of(response) == ["3 calls queued."]
    assert sorted(enqueued(apply_async)) == sorted(c.pk for c in calls)


def test_retry_makes_new_calls_linked_to_the_old_ones(
    op: Client,
    operator: User,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    rejected = make_call(status=CallStatus.REJECTED, batch="june")
    failed = make_call(phone=OTHER, status=CallStatus.ERROR)
    answered = make_call(phone=THIRD, status=CallStatus.ANSWERED)
    done_before = make_call(phone="0987000111", status=CallStatus.REJECTED)
    make_call(phone="0987000111", retry_of=done_before)
    selected = [rejected, failed, answered, done_before]

    response = run_action(op, "retry_calls", selected)
    html = response.content.decode()
    assert "2 calls will be placed again, as new calls." in html
    assert "Already retried." in html
    assert "Not rejected or failed" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(op, "retry_calls", selected, post="yes")
    assert messages_of(response) == [
        "2 calls queued, 2 skipped: not rejected or failed (1), already retried (1)."
    ]
    retries = VoiceCall.objects.filter(retry_of__in=[rejected, failed])
    assert {(r.retry_of_id, r.phone, r.status) for r in retries} == {
        (rejected.pk, PHONE, CallStatus.PENDING),
        (failed.pk, OTHER, CallStatus.PENDING),
    }
    assert retries.get(retry_of=rejected).batch == "june"
    assert {r.created_by for r in retries} == {operator}
    assert sorted(enqueued(apply_async)) == sorted(r.pk for r in retries)


def test_retry_needs_the_place_permission(no_place: Client) -> None:
    rejected = make_call(status=CallStatus.REJECTED)
    run_action(no_place, "retry_calls", [rejected], post="yes")
    assert VoiceCall.objects.count() == 1


def test_cancel_cancels_pending_calls_only(no_place: Client) -> None:
    pending = make_call()
    accepted = make_call(phone=OTHER, status=CallStatus.ACCEPTED)
    response = run_action(no_place, "cancel_calls", [pending, accepted], post="yes")
    assert messages_of(response) == [
        "1 call canceled, 1 skipped: already sent to eSMS or finished."
    ]
    pending.refresh_from_db()
    accepted.refresh_from_db()
    assert (pending.status, accepted.status) == (CallStatus.CANCELED, CallStatus.ACCEPTED)


def test_refresh_asks_esms_about_calls_it_has(no_place: Client) -> None:
    known = make_call(status=CallStatus.ACCEPTED, smsid="SMS-1")
    unsent = make_call(phone=OTHER)
    event = CallbackEvent(old_status=CallStatus.ACCEPTED, new_status=CallStatus.ANSWERED)
    with mock.patch.object(services, "refresh_status", return_value=event) as refresh:
        response = run_action(no_place, "refresh_calls", [known, unsent], post="yes")
    assert [c.args[0].pk for c in refresh.call_args_list] == [known.pk]
    assert messages_of(response) == [
        "1 call refreshed from eSMS (1 changed), 1 skipped: not sent to eSMS yet."
    ]


# ----------------------------------------------------------------------------- call many numbers

CALL_MANY = "admin:esms_voice_voicecall_call_many"


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


def test_call_many_needs_the_place_permission(no_place: Client) -> None:
    url = reverse(CALL_MANY)
    assert no_place.get(url).status_code == 403
    assert no_place.post(url, many_data(numbers=PHONE)).status_code == 403
    payload = signing.dumps({"user": 0}, salt=admin_actions.CALL_MANY_SALT)
    assert no_place.post(url, {"payload": payload}).status_code == 403


def test_call_many_lists_bad_rows_creates_nothing_then_one_batch_on_confirm(
    op: Client,
    operator: User,
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    url = reverse(CALL_MANY)
    assert op.get(url).status_code == 200
    numbers = "\n".join(
        [
            "# June reminders",
            f"{PHONE}, An, 150000",
            "0901, Binh",  # line 3: too short
            "",
            "+84 912 345 678\tChi\t200000",  # tab-separated, from a spreadsheet
            "0901abcdef",  # line 6: letters
            f"{PHONE}, Again",  # line 7: the same number as line 2
            "A||B, x",  # line 8
        ]
    )
    response = op.post(url, many_data(numbers=numbers, kind="template", batch="june"))
    assert response.status_code == 200
    assert not VoiceCall.objects.exists()
    invalid = {row.line: row.error for row in response.context["invalid"]}
    assert sorted(invalid) == [3, 6, 7, 8]
    assert "too short" in invalid[3]
    assert "contains letters" in invalid[6]
    assert invalid[7] == "The same number as line 2."
    html = response.content.decode()
    assert "4 rows are invalid and will be skipped:" in html
    assert "2 numbers will be called in batch “june”." in html
    assert [
        (r.line, r.fields["phone"], r.fields["variables"]) for r in response.context["valid"]
    ] == [
        (2, PHONE, ["An", "150000"]),
        (5, OTHER, ["Chi", "200000"]),
    ]

    payload = response.context["payload"]
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = op.post(url, {"payload": payload}, follow=True)
    table = VoiceCall._meta.db_table
    inserts = [q for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1  # created in bulk
    assert messages_of(response) == ["2 calls queued in batch “june”."]
    assert response.redirect_chain[-1][0] == changelist_url(batch="june")
    calls = VoiceCall.objects.order_by("pk")
    assert [(c.phone, c.variables, c.batch, c.kind, c.created_by) for c in calls] == [
        (PHONE, ["An", "150000"], "june", "template", operator),
        (OTHER, ["Chi", "200000"], "june", "template", operator),
    ]
    assert sorted(enqueued(apply_async)) == [c.pk for c in calls]


def test_call_many_reads_a_csv_with_a_header_and_its_line_numbers(op: Client) -> None:
    content = "\ufeffphone;name;amount\n0901888484;An;150000\n12345;Binh;1\n0912345678;Chi;2\n"
    upload = SimpleUploadedFile("list.csv", content.encode(), content_type="text/csv")
    response = op.post(reverse(CALL_MANY), many_data(csv_file=upload, kind="template"))
    assert response.status_code == 200
    assert [(row.line, row.phone) for row in response.context["invalid"]] == [(3, "12345")]
    assert [row.line for row in response.context["valid"]] == [2, 4]
    assert response.context["batch"].startswith("call-many-")
    assert not VoiceCall.objects.exists()


def test_call_many_refuses_options_that_esms_would(op: Client) -> None:
    response = op.post(reverse(CALL_MANY), many_data(numbers=PHONE, ivr_key="1"))
    assert "give both or neither" in str(response.context["form"].errors["ivr_key"])
    response = op.post(reverse(CALL_MANY), many_data(numbers=f"{PHONE}, An"))
    [row] = response.context["invalid"]
    assert "belong to text-to-speech script calls" in row.error
    response = op.post(reverse(CALL_MANY), many_data())
    assert "Paste some numbers or upload a CSV file." in str(response.context["form"].errors)
    assert not VoiceCall.objects.exists()


def test_a_forged_or_borrowed_preview_creates_nothing(op: Client, operator: User) -> None:
    url = reverse(CALL_MANY)
    response = op.post(url, many_data(numbers=PHONE))
    payload = response.context["payload"]
    forged = payload[:-2] + ("AA" if not payload.endswith("AA") else "BB")
    response = op.post(url, {"payload": forged}, follow=True)
    assert "This preview has expired or is not yours" in messages_of(response)[0]
    other = staff("other", *PLACE_PERMS)
    response = login(other).post(url, {"payload": payload}, follow=True)
    assert "This preview has expired or is not yours" in messages_of(response)[0]
    assert not VoiceCall.objects.exists()


def test_a_call_many_confirmation_posted_twice_places_the_calls_once(
    op: Client, apply_async: mock.Mock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    url = reverse(CALL_MANY)
    payload = op.post(url, many_data(numbers=f"{PHONE}\n{OTHER}", batch="june")).context["payload"]
    with django_capture_on_commit_callbacks(execute=True):
        first = op.post(url, {"payload": payload}, follow=True)
        again = op.post(url, {"payload": payload}, follow=True)  # a double-click, or Back
    assert messages_of(first) == ["2 calls queued in batch “june”."]
    assert messages_of(again) == [
        "This batch was already created: 2 calls (batch “june”). No new call was placed."
    ]
    assert again.redirect_chain[-1][0] == changelist_url(batch="june")
    assert VoiceCall.objects.count() == 2
    assert len(enqueued(apply_async)) == 2
    # A new preview of the same numbers is a new batch: that one is asked for.
    payload = op.post(url, many_data(numbers=f"{PHONE}\n{OTHER}", batch="june")).context["payload"]
    op.post(url, {"payload": payload})
    assert VoiceCall.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_call_many_confirmations_at_once_create_the_batch_once(
    monkeypatch: pytest.MonkeyPatch, apply_async: mock.Mock
) -> None:
    user = staff("racer", *PLACE_PERMS)
    url = reverse(CALL_MANY)
    preview = login(user).post(url, many_data(numbers=f"{PHONE}\n{OTHER}", batch="race"))
    data = {"payload": preview.context["payload"]}
    clients = [login(user), login(user)]  # two tabs, or two quick clicks
    posts = iter(clients)
    race = at_once(monkeypatch, lambda: next(posts).post(url, data))
    assert race.waited == [True]  # the second waited for the first, then did not create
    assert [r.status_code for r in race.results] == [302, 302]
    assert VoiceCall.objects.filter(batch="race").count() == 2
    assert len(enqueued(apply_async)) == 2
    shown = sorted(messages_of(client.get(changelist_url(batch="race"))) for client in clients)
    assert shown == [
        ["2 calls queued in batch “race”."],
        ["This batch was already created: 2 calls (batch “race”). No new call was placed."],
    ]


def test_a_preview_signed_before_confirmations_were_single_use_is_refused(
    op: Client, operator: User
) -> None:
    payload = signing.dumps(
        {"user": operator.pk, "batch": "old", "options": {"kind": "record", "template_id": "1"},
         "rows": [[PHONE, []]]},
        salt=admin_actions.CALL_MANY_SALT,
        compress=True,
    )  # fmt: skip
    response = op.post(reverse(CALL_MANY), {"payload": payload}, follow=True)
    assert "This preview has expired or is not yours" in messages_of(response)[0]
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


# ----------------------------------------------------------------------------- call_action()


@pytest.fixture
def customers() -> dict[str, User]:
    """Users standing in for customers: the phone in last_name, the name in first_name."""
    return {
        key: User.objects.create_user(f"customer-{key}", first_name=name, last_name=phone)
        for key, name, phone in [
            ("an", "An", PHONE),
            ("binh", "Bình", "+84 912 345 678"),
            ("no-phone", "Chi", ""),
            ("bad-phone", "Dung", "0901"),
        ]
    }


def host_action(client: Client, users: list[User], **extra: str) -> Any:
    return client.post(
        HOST_CHANGELIST,
        {"action": HOST_ACTION, "_selected_action": [u.pk for u in users], "index": "0", **extra},
    )


def test_the_host_action_is_offered_only_with_the_place_permission(
    op: Client, no_place: Client
) -> None:
    assert HOST_ACTION in action_names(op.get(HOST_CHANGELIST))
    assert HOST_ACTION not in action_names(no_place.get(HOST_CHANGELIST))
    choices = dict(op.get(HOST_CHANGELIST).context["action_form"].fields["action"].choices)
    assert choices[HOST_ACTION] == "Call the selected users"


def test_the_host_admin_passes_the_admin_checks() -> None:
    assert UserAsHostAdmin(User, host_site).check() == []


def test_the_host_action_lists_who_is_called_and_who_is_skipped_then_calls_them(
    op: Client,
    operator: User,
    customers: dict[str, User],
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    response = host_action(op, list(customers.values()))
    assert response.status_code == 200
    html = response.content.decode()
    assert "2 numbers will be called. eSMS charges for each call." in html
    assert "No phone number" in html
    assert "Invalid phone number" in html
    assert "0901 is not a valid Vietnamese phone number: it is too short." in html
    assert 'value="Place 2 calls"' in html
    assert f'action="{CALL_OBJECTS_URL}"' in html
    assert not VoiceCall.objects.exists()

    data = {"payload": response.context["payload"], **many_data(kind="template")}
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post(CALL_OBJECTS_URL, data, follow=True)
    assert messages_of(response) == [
        # The newest first, as the list showed them.
        "2 calls queued, 2 skipped: invalid phone number (1), no phone number (1)."
    ]
    calls = list(VoiceCall.objects.order_by("phone"))
    assert [(c.phone, c.variables, c.content_object, c.created_by) for c in calls] == [
        (PHONE, ["An"], customers["an"], operator),
        (OTHER, ["Bình"], customers["binh"], operator),
    ]
    [batch] = {c.batch for c in calls}
    assert re.fullmatch(r"user-\d{8}-\d{6}-[0-9a-f]{4}", batch)
    url, _ = response.redirect_chain[-1]
    assert url == f"/host-admin/esms_voice/voicecall/?batch={batch}"
    assert sorted(enqueued(apply_async)) == sorted(c.pk for c in calls)


def test_the_host_action_skips_a_repeated_number_and_a_value_esms_cannot_take(
    op: Client, customers: dict[str, User]
) -> None:
    twin = User.objects.create_user("customer-twin", first_name="An's twin", last_name=PHONE)
    pipes = User.objects.create_user("customer-pipes", first_name="A||B", last_name=THIRD)
    response = host_action(op, [customers["an"], twin, pipes])
    html = response.content.decode()
    assert "2 numbers will be called." in html
    assert "Same number as another" in html
    data = {"payload": response.context["payload"], **many_data(kind="template")}
    response = op.post(CALL_OBJECTS_URL, data, follow=True)
    assert messages_of(response) == [
        "1 call queued, 2 skipped: same number as another (1), invalid values (1)."
    ]
    # The list shows the newest first: the twin is called, the older An is the repeat.
    assert [c.content_object for c in VoiceCall.objects.all()] == [twin]


def test_the_host_action_confirmation_posted_twice_places_the_calls_once(
    op: Client, customers: dict[str, User], apply_async: mock.Mock
) -> None:
    response = host_action(op, [customers["an"], customers["binh"]])
    data = {"payload": response.context["payload"], **many_data(kind="template")}
    first = op.post(CALL_OBJECTS_URL, data, follow=True)
    again = op.post(CALL_OBJECTS_URL, data, follow=True)
    [batch] = set(VoiceCall.objects.values_list("batch", flat=True))
    assert messages_of(first) == ["2 calls queued."]
    assert messages_of(again) == [
        f"This batch was already created: 2 calls (batch “{batch}”). No new call was placed."
    ]
    assert again.redirect_chain[-1][0] == f"/host-admin/esms_voice/voicecall/?batch={batch}"
    assert first.redirect_chain[-1][0] == again.redirect_chain[-1][0]
    assert VoiceCall.objects.count() == 2


def test_the_host_action_form_shows_errors_and_keeps_the_selection(
    op: Client, customers: dict[str, User]
) -> None:
    response = host_action(op, [customers["an"]])
    data = {"payload": response.context["payload"], **many_data(template_id="", ivr_key="1")}
    response = op.post(CALL_OBJECTS_URL, data)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"template_id"}
    assert "1 number will be called" in response.content.decode()
    assert not VoiceCall.objects.exists()


def test_the_host_action_form_answers_403_without_the_place_permission(
    op: Client, viewer: User, customers: dict[str, User]
) -> None:
    response = host_action(op, [customers["an"]])
    payload = response.context["payload"]
    data = {"payload": payload, **many_data()}
    assert login(viewer).post(CALL_OBJECTS_URL, data).status_code == 403
    # Even with a payload made for them.
    borrowed = signing.loads(payload, salt=admin_actions.CALL_OBJECTS_SALT)
    borrowed["user"] = viewer.pk
    own = signing.dumps(borrowed, salt=admin_actions.CALL_OBJECTS_SALT, compress=True)
    assert login(viewer).post(CALL_OBJECTS_URL, {**data, "payload": own}).status_code == 403
    # And running the hidden action by hand gets nowhere.
    response = host_action(login(viewer), [customers["an"]])
    assert response.status_code == 200  # the plain list: no action ran
    assert not VoiceCall.objects.exists()


def test_the_host_action_refuses_a_payload_made_for_someone_else(
    op: Client, customers: dict[str, User]
) -> None:
    response = host_action(op, [customers["an"]])
    other = login(staff("other", *PLACE_PERMS))
    response = other.post(
        CALL_OBJECTS_URL, {"payload": response.context["payload"], **many_data()}, follow=True
    )
    assert "This form has expired or is not yours" in messages_of(response)[0]
    assert not VoiceCall.objects.exists()


def test_the_host_action_reads_attribute_paths_and_methods() -> None:
    spec = admin_actions.CallActionSpec("profile__phone", ("get_name",), "x")

    class Profile:
        phone = PHONE

    class Thing:
        profile = Profile()

        def get_name(self) -> str:
            return "An"

    [target] = admin_actions._targets([Thing()], spec)
    assert (target.phone, target.variables, target.error) == (PHONE, ["An"], "")


# ----------------------------------------------------------------------------- Vietnamese


def test_the_admin_speaks_vietnamese(admin_client: Client, settings: Any) -> None:
    settings.LANGUAGE_CODE = "vi"
    make_call(status=CallStatus.ANSWERED)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Chọn cuộc gọi thoại để thay đổi" in html  # Django's title, our verbose name
    assert "Gọi ngay các cuộc gọi đang chờ đã chọn" in html  # place_now
    assert "Gọi nhiều số" in html
    assert ">Đã nghe máy</span>" in html  # the status badge
    assert "không có kết quả sau" in html  # a filter's title
    html = admin_client.get(reverse("admin:esms_voice_voicecall_add")).content.decode()
    assert "Thực hiện một cuộc gọi" in html


def test_a_partial_uuid_finds_nothing(admin_client: Client) -> None:
    make_call()
    response = admin_client.get(reverse(CHANGELIST), {"q": str(uuid.uuid4())[:10]})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
