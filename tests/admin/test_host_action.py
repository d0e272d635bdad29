"""call_action() on a host model's admin.

auth.User stands in for a host project's model: its last_name holds the phone number and its
first_name a script variable, on an admin site of tests.admin.urls.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core import checks, signing
from django.test import Client, override_settings
from django.urls import path
from django.utils import translation

from django_esms_voice.admin import VoiceCallAdmin, call_action, host_action
from django_esms_voice.models import VoiceCall
from tests.admin.helpers import (
    CALL_OBJECTS_URL,
    HOST_ACTION,
    HOST_CHANGELIST,
    OTHER,
    PHONE,
    PLACE_PERMS,
    THIRD,
    action_names,
    enqueued,
    login,
    many_data,
    messages_of,
    staff,
)
from tests.admin.urls import UserAsHostAdmin, host_site

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


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


def run_host_action(client: Client, users: list[User], **extra: str) -> Any:
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


def test_the_mixin_follows_the_actions_api_of_the_running_django(
    op: Client, no_place: Client
) -> None:
    """Django 6.1 deprecates get_actions() overrides without action_location and tuple indexing."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for client in (op, no_place):
            assert client.get(HOST_CHANGELIST).status_code == 200
    assert [str(w.message) for w in seen if "action" in str(w.message).lower()] == []


def test_the_host_admin_passes_the_admin_checks() -> None:
    assert UserAsHostAdmin(User, host_site).check() == []


def test_the_host_action_lists_who_is_called_and_who_is_skipped_then_calls_them(
    op: Client,
    operator: User,
    customers: dict[str, User],
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    response = run_host_action(op, list(customers.values()))
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
    response = run_host_action(op, [customers["an"], twin, pipes])
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
    response = run_host_action(op, [customers["an"], customers["binh"]])
    data = {"payload": response.context["payload"], **many_data(kind="template")}
    first = op.post(CALL_OBJECTS_URL, data, follow=True)
    again = op.post(CALL_OBJECTS_URL, data, follow=True)
    [batch] = set(VoiceCall.objects.values_list("batch", flat=True))
    assert messages_of(first) == ["2 calls queued."]
    assert messages_of(again) == [
        f"These calls were already created: 2 calls (campaign “{batch}”). No new call was placed."
    ]
    assert again.redirect_chain[-1][0] == f"/host-admin/esms_voice/voicecall/?batch={batch}"
    assert first.redirect_chain[-1][0] == again.redirect_chain[-1][0]
    assert VoiceCall.objects.count() == 2


def test_the_host_action_form_shows_errors_and_keeps_the_selection(
    op: Client, customers: dict[str, User]
) -> None:
    response = run_host_action(op, [customers["an"]])
    data = {"payload": response.context["payload"], **many_data(template_id="", ivr_key="1")}
    response = op.post(CALL_OBJECTS_URL, data)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"template_id"}
    assert "1 number will be called" in response.content.decode()
    assert not VoiceCall.objects.exists()


def test_the_host_action_form_answers_403_without_the_place_permission(
    op: Client, viewer: User, customers: dict[str, User]
) -> None:
    response = run_host_action(op, [customers["an"]])
    payload = response.context["payload"]
    data = {"payload": payload, **many_data()}
    assert login(viewer).post(CALL_OBJECTS_URL, data).status_code == 403
    # Even with a payload made for them.
    borrowed = signing.loads(payload, salt=host_action.CALL_OBJECTS_SALT)
    borrowed["user"] = viewer.pk
    own = signing.dumps(borrowed, salt=host_action.CALL_OBJECTS_SALT, compress=True)
    assert login(viewer).post(CALL_OBJECTS_URL, {**data, "payload": own}).status_code == 403
    # And running the hidden action by hand gets nowhere.
    response = run_host_action(login(viewer), [customers["an"]])
    assert response.status_code == 200  # the plain list: no action ran
    assert not VoiceCall.objects.exists()


def test_the_host_action_refuses_a_payload_made_for_someone_else(
    op: Client, customers: dict[str, User]
) -> None:
    response = run_host_action(op, [customers["an"]])
    other = login(staff("other", *PLACE_PERMS))
    response = other.post(
        CALL_OBJECTS_URL, {"payload": response.context["payload"], **many_data()}, follow=True
    )
    assert "This form has expired or is not yours" in messages_of(response)[0]
    assert not VoiceCall.objects.exists()


def test_the_host_action_reads_attribute_paths_and_methods() -> None:
    spec = host_action.CallActionSpec("profile__phone", ("get_name",), "x")

    class Profile:
        phone = PHONE

    class Thing:
        profile = Profile()

        def get_name(self) -> str:
            return "An"

    [target] = host_action.read_targets([Thing()], spec)
    assert (target.phone, target.variables, target.error) == (PHONE, ["An"], "")


# ----------------------------------------------------------------------------- without the mixin


class PlainHostAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A host admin written as the docs first showed it: call_action() and no mixin."""

    actions = [call_action(phone_field="last_name", variables=["first_name"])]


PLAIN_CHANGELIST = "/plain-admin/auth/user/"


@pytest.fixture
def plain_host() -> Iterator[admin.AdminSite]:
    """An admin site, alive for one test only, whose User admin offers call_action() plainly."""
    site = admin.AdminSite(name="plainadmin")
    site.register(User, PlainHostAdmin)
    site.register(VoiceCall, VoiceCallAdmin)
    urlconf = ModuleType("plain_host_urls")
    urlconf.urlpatterns = [path("admin/", admin.site.urls), path("plain-admin/", site.urls)]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urlconf):
        yield site
    # A site lives on until it is collected: registered in no other test's system checks.
    site.unregister([User, VoiceCall])


def run_plain_action(client: Client, users: list[User]) -> Any:
    data = {"action": HOST_ACTION, "_selected_action": [u.pk for u in users], "index": "0"}
    return client.post(PLAIN_CHANGELIST, data, follow=True)


def test_the_app_does_not_patch_djangos_model_admin() -> None:
    assert not hasattr(admin.ModelAdmin, "has_esms_voice_call_permission")


def test_a_host_admin_without_the_mixin_calls_the_objects_as_documented(
    plain_host: admin.AdminSite,
    op: Client,
    customers: dict[str, User],
    apply_async: mock.Mock,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    assert PlainHostAdmin(User, plain_host).check() == []  # no admin.E129
    assert HOST_ACTION in action_names(op.get(PLAIN_CHANGELIST))
    response = run_plain_action(op, [customers["an"], customers["binh"]])
    assert "2 numbers will be called." in response.content.decode()
    data = {"payload": response.context["payload"], **many_data(kind="template")}
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post("/plain-admin/esms_voice/voicecall/call-objects/", data, follow=True)
    assert messages_of(response) == ["2 calls queued."]
    called = {c.content_object for c in VoiceCall.objects.all()}
    assert called == {customers["an"], customers["binh"]}
    assert len(enqueued(apply_async)) == 2


def test_a_host_admin_without_the_mixin_refuses_staff_who_may_not_place_calls(
    plain_host: admin.AdminSite, no_place: Client, customers: dict[str, User]
) -> None:
    # Offered to whoever sees the list (only the mixin can hide it), refused when run.
    assert HOST_ACTION in action_names(no_place.get(PLAIN_CHANGELIST))
    response = run_plain_action(no_place, [customers["an"]])
    assert messages_of(response) == [
        "You may not place voice calls: ask an administrator for the permissions to add and "
        "to place voice calls."
    ]
    assert response.redirect_chain[-1][0] == PLAIN_CHANGELIST
    assert not VoiceCall.objects.exists()
    with translation.override("vi"):
        assert "Bạn không có quyền" in messages_of(run_plain_action(no_place, [customers["an"]]))[0]


def test_the_system_check_tells_a_host_admin_without_the_mixin_what_to_add(
    plain_host: admin.AdminSite,
) -> None:
    found = [m for m in checks.run_checks(tags=[checks.Tags.admin]) if m.id == "esms_voice.W005"]
    assert [(m.level, m.obj) for m in found] == [(checks.WARNING, PlainHostAdmin)]
    assert "class PlainHostAdmin(VoiceCallActionMixin, admin.ModelAdmin)" in found[0].hint
    assert "esms_voice.place_voicecall" in found[0].hint
