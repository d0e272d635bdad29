"""The optional DRF API for calls: create (one, a batch), list, retrieve, cancel, the schema."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.test import override_settings
from django.urls import include, path
from django.utils import timezone
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.backends import LOCMEM_BACKEND
from django_esms_voice.conf import API_THROTTLE_RATE, API_THROTTLE_SCOPE
from django_esms_voice.models import CallKind, IdempotencyKey, VoiceCall
from django_esms_voice.serializers import MAX_BATCH_SIZE
from django_esms_voice.signing import callback_token
from django_esms_voice.states import CallStatus
from django_esms_voice.tasks import place_call_task
from tests.concurrency import at_once

# This module is the URLconf of its tests: the API is an optional include.
urlpatterns = [
    path("esms-voice/", include("django_esms_voice.urls")),
    path("api/esms-voice/", include("django_esms_voice.api_urls")),
]
pytestmark = pytest.mark.urls("tests.test_api")

CALLS = "/api/esms-voice/calls/"
SCHEMA = "/api/esms-voice/schema/"
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


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.ESMS_VOICE = SETTINGS


@pytest.fixture(autouse=True)
def apply_async(monkeypatch: pytest.MonkeyPatch) -> mock.Mock:
    """Stand in for the broker: the API enqueues after commit."""
    fake = mock.Mock(name="place_call_task.apply_async")
    monkeypatch.setattr(place_call_task, "apply_async", fake)
    return fake


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


@pytest.fixture
def admin(db: Any) -> APIClient:
    """A superuser's client."""
    return client_for(User.objects.create_superuser("root", password="pw"))


@pytest.fixture
def placer(db: Any) -> User:
    """A user who may place and view calls."""
    return make_user("placer", "place_voicecall", "view_voicecall")


def new_call(**fields: Any) -> VoiceCall:
    """Create a pending call without enqueuing it."""
    return services.create_call(enqueue=False, **{"phone": PHONE, "template_id": "rec-1", **fields})


def assert_public(data: dict[str, Any], call: VoiceCall) -> None:
    """Check that a call's representation hides the id and the callback token."""
    assert not HIDDEN & set(data)
    assert callback_token(call.uuid) not in str(data)
    assert data["uuid"] == str(call.uuid)


# ----------------------------------------------------------------------------- create


@pytest.mark.django_db
def test_create_one_call(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(placer).post(
            CALLS,
            {"phone": "+84 90 188 84 84", "template_id": "rec-1", "metadata": {"order": 7}},
            format="json",
        )
    assert response.status_code == 201, response.data
    call = VoiceCall.objects.get()
    assert response.data["status"] == CallStatus.PENDING
    assert response.data["phone"] == PHONE
    assert response.data["kind"] == CallKind.RECORD
    assert_public(response.data, call)
    assert call.created_by == placer
    assert call.metadata == {"order": 7}
    assert [c.args[0] for c in apply_async.call_args_list] == [(call.pk,)]


@pytest.mark.django_db
def test_create_a_script_call_with_its_options(placer: User) -> None:
    send_at = timezone.now() + dt.timedelta(days=1)
    response = client_for(placer).post(
        CALLS,
        {
            "kind": "template",
            "template_id": "tpl-1",
            "phone": PHONE,
            "variables": ["Trung", "20000"],
            "voice": "ngoclam",
            "speed": 2,
            "send_at": send_at.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    call = VoiceCall.objects.get()
    assert (call.kind, call.variables, call.voice, call.speed) == (
        CallKind.TEMPLATE,
        ["Trung", "20000"],
        "ngoclam",
        2,
    )
    assert call.send_at == send_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"phone": "12345"}, "phone", ""),
        ({"phone": ""}, "phone", ""),
        ({"template_id": ""}, "template_id", ""),
        ({"kind": "template", "variables": ["a||b"]}, "variables", "||"),
        ({"variables": ["a"]}, "variables", "script"),
        ({"ivr_key": 1}, "ivr_key", "forward"),
        ({"ivr_key": 12, "number_forward": OTHER}, "ivr_key", ""),
        ({"ivr_key": 1, "number_forward": "not a phone"}, "number_forward", ""),
        ({"kind": "template", "ivr_key": 1, "number_forward": OTHER}, "ivr_key", "recording"),
        ({"kind": "template", "speed": 9}, "speed", ""),
        ({"kind": "template", "voice": "robot"}, "voice", ""),
        ({"send_at": "2030-01-01T09:00:00"}, None, ""),  # naive: read in TIME_ZONE, accepted
    ],
)
def test_create_refuses_bad_input_field_by_field(
    placer: User, body: dict[str, Any], field: str | None, words: str
) -> None:
    response = client_for(placer).post(
        CALLS, {"phone": PHONE, "template_id": "rec-1", **body}, format="json"
    )
    if field is None:
        assert response.status_code == 201, response.data
        return
    assert response.status_code == 400
    assert set(response.data) == {field}, response.data
    assert words in str(response.data[field][0])
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
def test_create_a_batch_from_an_object(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    body = {
        "batch": "reminders",
        "calls": [
            {"phone": PHONE, "template_id": "rec-1"},
            {"phone": OTHER, "template_id": "tpl", "kind": "template", "variables": ["A"]},
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(placer).post(CALLS, body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["batch"] == "reminders"
    assert [c["phone"] for c in response.data["calls"]] == [PHONE, OTHER]
    calls = VoiceCall.objects.filter(batch="reminders")
    assert calls.count() == 2
    assert {c.created_by for c in calls} == {placer}
    assert sorted(c.args[0][0] for c in apply_async.call_args_list) == sorted(c.pk for c in calls)
    for data in response.data["calls"]:
        assert not HIDDEN & set(data)


@pytest.mark.django_db
def test_create_a_batch_from_a_bare_list_gets_a_batch_tag(placer: User) -> None:
    response = client_for(placer).post(
        CALLS, [{"phone": PHONE, "template_id": "1"}, {"phone": OTHER, "template_id": "1"}],
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    batch = response.data["batch"]
    assert batch.startswith("api-")
    assert VoiceCall.objects.filter(batch=batch).count() == 2


@pytest.mark.django_db
def test_a_batch_with_one_bad_row_creates_nothing_and_points_at_the_row(placer: User) -> None:
    response = client_for(placer).post(
        CALLS,
        {"calls": [{"phone": PHONE, "template_id": "1"}, {"phone": "999", "template_id": "1"}]},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["calls"]
    assert set(errors) == {"1"}  # the rows with errors, by index from 0
    assert set(errors["1"]) == {"phone"}
    assert "not a valid Vietnamese phone number" in errors["1"]["phone"][0]
    assert not VoiceCall.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "calls", [[], [{"phone": PHONE, "template_id": "1"}] * (MAX_BATCH_SIZE + 1)]
)
def test_a_batch_must_hold_between_one_and_the_maximum_calls(
    placer: User, calls: list[Any]
) -> None:
    response = client_for(placer).post(CALLS, {"calls": calls}, format="json")
    assert response.status_code == 400
    assert "calls" in response.data
    assert not VoiceCall.objects.exists()


# ----------------------------------------------------------------------------- permissions


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


# ----------------------------------------------------------------------------- list


@pytest.mark.django_db
def test_list_filters(admin: APIClient) -> None:
    old = new_call(batch="b1")
    VoiceCall.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=3), status=CallStatus.ANSWERED
    )
    script = new_call(kind="template", variables=["x"], phone=OTHER, batch="b2")
    rejected = new_call(batch="b1")
    VoiceCall.objects.filter(pk=rejected.pk).update(status=CallStatus.REJECTED)

    def uuids(**params: Any) -> set[str]:
        response = admin.get(CALLS, params)
        assert response.status_code == 200, response.data
        return {c["uuid"] for c in response.data["results"]}

    assert uuids() == {str(c.uuid) for c in (old, script, rejected)}
    assert uuids(status="rejected") == {str(rejected.uuid)}
    assert uuids(status=["rejected", "answered"]) == {str(rejected.uuid), str(old.uuid)}
    assert uuids(kind="template") == {str(script.uuid)}
    assert uuids(batch="b1") == {str(old.uuid), str(rejected.uuid)}
    assert uuids(phone="+84 912 345 678") == {str(script.uuid)}
    yesterday = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert uuids(created_after=yesterday) == {str(script.uuid), str(rejected.uuid)}
    assert uuids(created_before=yesterday) == {str(old.uuid)}


@pytest.mark.django_db
def test_a_call_charged_with_its_result_unknown_is_listed_as_unknown(admin: APIClient) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(
        status=CallStatus.UNKNOWN, last_error_code="no_result"
    )
    new_call(phone=OTHER)

    response = admin.get(CALLS, {"status": "unknown"})

    assert response.status_code == 200, response.data
    [listed] = response.data["results"]
    assert (listed["uuid"], listed["status"], listed["last_error_code"]) == (
        str(call.uuid),
        "unknown",
        "no_result",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "ringing"}, "status"),
        ({"kind": "sms"}, "kind"),
        ({"phone": "12"}, "phone"),
        ({"created_after": "yesterday"}, "created_after"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    admin: APIClient, params: dict[str, str], field: str
) -> None:
    response = admin.get(CALLS, params)
    assert response.status_code == 400
    assert set(response.data) == {field}


@pytest.mark.django_db
def test_list_is_paginated_newest_first_with_a_cursor(admin: APIClient) -> None:
    calls = [new_call() for _ in range(5)]
    seen: list[str] = []
    url: str | None = f"{CALLS}?page_size=2"
    pages = 0
    while url:
        response = admin.get(url)
        assert response.status_code == 200
        assert len(response.data["results"]) <= 2
        seen += [c["uuid"] for c in response.data["results"]]
        url = response.data["next"]
        pages += 1
    assert pages == 3
    assert seen == [str(c.uuid) for c in reversed(calls)]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 25])
def test_list_costs_one_query_whatever_the_number_of_calls(
    admin: APIClient, count: int, django_assert_num_queries: Any
) -> None:
    user_type = ContentType.objects.get_for_model(User)
    first = new_call()
    VoiceCall.objects.filter(pk=first.pk).update(status=CallStatus.REJECTED)
    for _ in range(count):
        retry = services.retry_call(VoiceCall.objects.get(pk=first.pk), enqueue=False)
        VoiceCall.objects.filter(pk=retry.pk).update(content_type=user_type, object_id="1")
    ContentType.objects.clear_cache()
    with django_assert_num_queries(1):  # the page, with its joins; no COUNT(*), no N+1
        response = admin.get(CALLS)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == count + 1
    linked = [c for c in results if c["retry_of"]]
    assert {c["retry_of"] for c in linked} == {str(first.uuid)}
    assert {c["linked_type"] for c in linked} == {"auth.user"}


# ----------------------------------------------------------------------------- retrieve


@pytest.mark.django_db
def test_retrieve_by_uuid_shows_the_public_fields(admin: APIClient) -> None:
    call = new_call(ivr_key=1, number_forward=OTHER)
    response = admin.get(f"{CALLS}{call.uuid}/")
    assert response.status_code == 200
    assert_public(response.data, call)
    assert (response.data["ivr_key"], response.data["number_forward"]) == (1, OTHER)
    assert response.data["retry_of"] is None
    assert response.data["linked_type"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("lookup", ["pk", "unknown", "garbage"])
def test_retrieve_by_anything_but_a_known_uuid_is_404(admin: APIClient, lookup: str) -> None:
    call = new_call()
    key = {"pk": str(call.pk), "unknown": str(uuid.uuid4()), "garbage": "not-a-uuid"}[lookup]
    assert admin.get(f"{CALLS}{key}/").status_code == 404


# ----------------------------------------------------------------------------- cancel


@pytest.mark.django_db
def test_cancel_a_pending_call(admin: APIClient) -> None:
    call = new_call()
    response = admin.post(f"{CALLS}{call.uuid}/cancel/")
    assert response.status_code == 200
    assert response.data["status"] == CallStatus.CANCELED
    call.refresh_from_db()
    assert call.status == CallStatus.CANCELED
    assert call.completed_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [CallStatus.ACCEPTED, CallStatus.SUBMITTING, CallStatus.CANCELED]
)
def test_cancel_a_call_that_is_not_pending_is_409(admin: APIClient, status: str) -> None:
    call = new_call()
    VoiceCall.objects.filter(pk=call.pk).update(status=status)
    response = admin.post(f"{CALLS}{call.uuid}/cancel/")
    assert response.status_code == 409
    assert status in response.data["detail"]
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.django_db
def test_cancel_an_unknown_call_is_404(admin: APIClient) -> None:
    assert admin.post(f"{CALLS}{uuid.uuid4()}/cancel/").status_code == 404


@pytest.mark.django_db
def test_there_is_no_update_or_delete(admin: APIClient) -> None:
    call = new_call()
    assert admin.delete(f"{CALLS}{call.uuid}/").status_code == 405
    assert admin.patch(f"{CALLS}{call.uuid}/", {"phone": OTHER}, format="json").status_code == 405
    assert VoiceCall.objects.get().phone == PHONE


# ----------------------------------------------------------------------------- OpenAPI schema


@pytest.fixture
def schema(client: Any) -> dict[str, Any]:
    """The generated OpenAPI schema, as JSON."""
    response = client.get(SCHEMA, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.django_db
def test_the_schema_is_valid_openapi_and_covers_this_api_only(schema: dict[str, Any]) -> None:
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)
    operations = {
        (route, method) for route, item in schema["paths"].items() for method in item
    }  # fmt: skip
    assert operations == {
        ("/api/esms-voice/calls/", "get"),
        ("/api/esms-voice/calls/", "post"),
        ("/api/esms-voice/calls/{uuid}/", "get"),
        ("/api/esms-voice/calls/{uuid}/cancel/", "post"),
    }
    components = schema["components"]["schemas"]
    assert not HIDDEN & set(components["VoiceCall"]["properties"])
    create = schema["paths"]["/api/esms-voice/calls/"]["post"]
    assert set(create["responses"]) >= {"201", "400", "403"}
    assert "409" in schema["paths"]["/api/esms-voice/calls/{uuid}/cancel/"]["post"]["responses"]
    parameters = {p["name"] for p in schema["paths"]["/api/esms-voice/calls/"]["get"]["parameters"]}
    assert parameters >= {"status", "kind", "batch", "phone", "created_after", "cursor"}


def basic_auth(username: str, password: str) -> dict[str, str]:
    """Return an HTTP Basic Authorization header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def live_calls(live_server: Any, transactional_db: Any) -> tuple[str, dict[str, str]]:
    """The live server's URL, a superuser's credentials, and a few calls to look at."""
    User.objects.create_superuser("fuzz", password="fuzz-pw")
    for index in range(3):
        new_call(batch=f"b{index}", metadata={"index": index})
    return live_server.url, basic_auth("fuzz", "fuzz-pw")


@pytest.mark.timeout(120)
def test_schemathesis_against_the_live_schema(live_calls: tuple[str, dict[str, str]]) -> None:
    """Every documented operation, with generated input: no 5xx, answers match the schema."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    base_url, headers = live_calls
    api = schemathesis.openapi.from_url(f"{base_url}{SCHEMA}?format=json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} == {
        "GET /api/esms-voice/calls/",
        "POST /api/esms-voice/calls/",
        "GET /api/esms-voice/calls/{uuid}/",
        "POST /api/esms-voice/calls/{uuid}/cancel/",
    }
    statuses: dict[str, set[int]] = {}

    def fuzz(operation: Any, mode: Any) -> None:
        # Valid input: every check. Invalid input: it must be refused, never crash the server.
        used = checks if mode is GenerationMode.POSITIVE else [not_a_server_error]

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=used)
            statuses.setdefault(f"{mode.value} {operation.label}", set()).add(response.status_code)

        check()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)
    # Random uuids name no call: look at real ones too, through the same checks.
    by_label = {op.label: op for op in operations}
    for call in VoiceCall.objects.filter(status=CallStatus.PENDING)[:2]:
        for label in (
            "GET /api/esms-voice/calls/{uuid}/",
            "POST /api/esms-voice/calls/{uuid}/cancel/",
        ):
            case = by_label[label].Case(path_parameters={"uuid": str(call.uuid)})
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
            statuses.setdefault(f"known {label}", set()).add(response.status_code)
    assert statuses["known POST /api/esms-voice/calls/{uuid}/cancel/"] == {200}
    assert statuses["known GET /api/esms-voice/calls/{uuid}/"] == {200}
    # The generated input reached the success path of each operation, not only its errors.
    assert 201 in statuses["positive POST /api/esms-voice/calls/"], statuses
    assert 200 in statuses["positive GET /api/esms-voice/calls/"], statuses
    assert 400 in statuses["negative POST /api/esms-voice/calls/"], statuses


# ----------------------------------------------------------------------------- spending limits


@pytest.fixture(autouse=True)
def _no_throttle_history() -> Any:
    """Start every test with no request counted by the throttles (kept in the default cache)."""
    cache.clear()
    yield
    cache.clear()


def batch_body(*phones: str, **extra: Any) -> dict[str, Any]:
    """A batch of recording calls to these numbers."""
    return {"calls": [{"phone": phone, "template_id": "rec-1"} for phone in phones], **extra}


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
