"""Reading calls through the API: the list with its filters and cursor, one call by uuid."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from rest_framework.test import APIClient

from django_esms_voice.models import VoiceCall
from django_esms_voice.states import CallStatus
from tests.api.helpers import (
    CALLS,
    OTHER,
    assert_public,
    new_call,
)

pytestmark = pytest.mark.urls("tests.api.urls")


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
    for _ in range(count):  # calls linked to one (a call is retried once: linked by hand)
        linked = new_call()
        VoiceCall.objects.filter(pk=linked.pk).update(
            retry_of=first, content_type=user_type, object_id="1"
        )
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
