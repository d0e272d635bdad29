"""Campaigns through the API: list, retrieve with figures, pause, resume, cancel, batches."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.utils import timezone, translation
from rest_framework.test import APIClient

from django_esms_voice import services, testing
from django_esms_voice.models import Campaign, CampaignSource, VoiceCall
from django_esms_voice.states import CallStatus, CampaignState, Hold
from tests.api.helpers import (
    CALLS,
    CAMPAIGNS,
    OTHER,
    PHONE,
    THIRD,
    batch_body,
    client_for,
    make_user,
    new_call,
    new_campaign,
)

pytestmark = pytest.mark.urls("tests.api.urls")

SECRET_OTP = "493817"  # a call's own variable: never part of what a campaign shows


@pytest.fixture
def runner(db: Any) -> User:
    """A user who may read and run campaigns, nothing else."""
    return make_user("runner", "view_campaign", "run_campaign")


def set_status(campaign: Campaign, status: str, count: int) -> None:
    """Give `count` of the campaign's pending calls another status."""
    pks = list(
        campaign.calls.filter(status=CallStatus.PENDING).values_list("pk", flat=True)[:count]
    )
    VoiceCall.objects.filter(pk__in=pks).update(status=status)


# ----------------------------------------------------------------------------- reading


@pytest.mark.django_db
def test_list_is_newest_first_paginated_and_filtered_by_state_and_purpose(
    admin: APIClient,
) -> None:
    older = new_campaign(PHONE, name="older", purpose="advertising")
    Campaign.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    paused = new_campaign(PHONE, name="paused")
    services.pause_campaign(paused)
    newest = new_campaign(PHONE, name="newest", purpose="transactional")

    def names(**params: Any) -> list[str]:
        response = admin.get(CAMPAIGNS, params)
        assert response.status_code == 200, response.data
        return [c["name"] for c in response.data["results"]]

    assert names() == ["newest", "paused", "older"]
    assert names(state="paused") == ["paused"]
    assert names(state=["paused", "running"]) == ["newest", "paused", "older"]
    assert names(purpose="advertising") == ["older"]
    assert names(purpose="transactional", state="running") == ["newest"]
    assert names(state="completed") == []
    first = admin.get(CAMPAIGNS, {"page_size": 2})
    assert [c["id"] for c in first.data["results"]] == [newest.pk, paused.pk]
    assert [c["id"] for c in admin.get(first.data["next"]).data["results"]] == [older.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{"state": "stopped"}, {"purpose": "spam"}])
def test_a_bad_campaign_filter_is_a_400_naming_it(admin: APIClient, params: dict[str, str]) -> None:
    response = admin.get(CAMPAIGNS, params)
    assert response.status_code == 400
    assert set(response.data) == set(params)


@pytest.mark.django_db
def test_retrieve_shows_what_is_said_why_who_and_the_figures(runner: User) -> None:
    maker = make_user("maker")
    rows = [
        {"kind": "template", "template_id": "tpl-9", "phone": phone, "variables": [SECRET_OTP]}
        for phone in (PHONE, OTHER, THIRD)
    ]
    [campaign] = {
        c.campaign
        for c in services.create_calls(
            [{**row, "voice": "ngoclam", "speed": 1} for row in rows],
            campaign="otp",
            purpose="transactional",
            created_by=maker,
            enqueue=False,
        )
    }
    assert campaign is not None
    set_status(campaign, CallStatus.ANSWERED, 2)

    response = client_for(runner).get(f"{CAMPAIGNS}{campaign.pk}/")

    assert response.status_code == 200, response.data
    data = response.json()
    assert (data["id"], data["name"], data["kind"], data["template_id"]) == (
        campaign.pk, "otp", "template", "tpl-9",
    )  # fmt: skip
    assert {k: data["options"].get(k) for k in ("voice", "speed")} == {
        "voice": "ngoclam",
        "speed": 1,
    }
    assert (data["purpose"], data["state"], data["source"]) == ("transactional", "running", "code")
    assert data["created_by"] == "maker"
    assert data["created_at"]
    assert data["paused_at"] is None
    assert data["url"] == f"http://testserver{CAMPAIGNS}{campaign.pk}/"
    assert data["calls_url"] == f"http://testserver{CALLS}?campaign={campaign.pk}"
    figures = data["figures"]
    assert figures["total"] == 3
    assert figures["by_status"] == {s: {"pending": 1, "answered": 2}.get(s, 0) for s in CallStatus}
    assert (figures["answered"], figures["open"]) == (2, 1)
    assert SECRET_OTP not in response.content.decode()


@pytest.mark.django_db
def test_the_calls_of_a_campaign_are_the_calls_list_filtered_by_it(admin: APIClient) -> None:
    campaign = new_campaign(PHONE, OTHER)
    new_call(phone=THIRD)
    new_campaign(THIRD, name="other")

    response = admin.get(admin.get(f"{CAMPAIGNS}{campaign.pk}/").data["calls_url"])

    assert response.status_code == 200, response.data
    assert {c["phone"] for c in response.data["results"]} == {PHONE, OTHER}
    assert {c["campaign"] for c in response.data["results"]} == {campaign.pk}
    assert admin.get(CALLS, {"campaign": "x"}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["0", "999999", "abc", "9" * 30])
def test_an_unknown_campaign_is_a_404(admin: APIClient, key: str) -> None:
    new_campaign(PHONE)
    assert admin.get(f"{CAMPAIGNS}{key}/").status_code == 404
    assert admin.post(f"{CAMPAIGNS}{key}/pause/").status_code == 404


def _many_calls(count: int) -> Campaign:
    """A campaign of `count` calls, in several statuses, made by a user."""
    phones = [f"09{n:08d}" for n in range(count)]
    campaign = new_campaign(*phones, created_by=make_user("maker"))
    set_status(campaign, CallStatus.ANSWERED, count // 2)
    set_status(campaign, CallStatus.REJECTED, count // 5)
    return campaign


@pytest.mark.django_db
@pytest.mark.parametrize("count", [10, 1000])
def test_list_and_retrieve_cost_constant_queries(
    admin: APIClient, count: int, django_assert_num_queries: Any
) -> None:
    campaign = _many_calls(count)
    for index in range(3):
        new_campaign(PHONE, name=f"more-{index}", created_by=make_user(f"maker-{index}"))

    with django_assert_num_queries(1):  # the page, with who made each; no COUNT(*), no N+1
        listed = admin.get(CAMPAIGNS)
    with django_assert_num_queries(2):  # the campaign, then its figures in one grouped query
        retrieved = admin.get(f"{CAMPAIGNS}{campaign.pk}/")

    assert listed.status_code == 200
    assert len(listed.data["results"]) == 4
    assert {c["created_by"] for c in listed.data["results"]} == {
        "maker", "maker-0", "maker-1", "maker-2",
    }  # fmt: skip
    assert retrieved.status_code == 200
    assert retrieved.data["figures"]["total"] == count
    assert retrieved.data["figures"]["by_status"]["rejected"] == count // 5


# ----------------------------------------------------------------------------- permissions


@pytest.mark.django_db
def test_anonymous_clients_are_refused() -> None:
    campaign = new_campaign(PHONE)
    client = client_for(None)
    assert client.get(CAMPAIGNS).status_code in (401, 403)
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/").status_code in (401, 403)
    for name in ("pause", "resume", "cancel"):
        assert client.post(f"{CAMPAIGNS}{campaign.pk}/{name}/").status_code in (401, 403)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("codenames", "staff", "read", "run"),
    [
        ((), True, 403, 403),  # staff is not a permission
        (("view_voicecall", "place_voicecall", "change_voicecall"), True, 403, 403),
        (("view_campaign",), False, 200, 403),
        (("run_campaign",), False, 403, 200),
        (("view_campaign", "run_campaign"), False, 200, 200),
    ],
)
def test_reading_needs_view_campaign_and_running_needs_run_campaign(
    codenames: tuple[str, ...], staff: bool, read: int, run: int
) -> None:
    campaign = new_campaign(PHONE)
    client = client_for(make_user("someone", *codenames, is_staff=staff))
    assert client.get(CAMPAIGNS).status_code == read
    assert client.get(f"{CAMPAIGNS}{campaign.pk}/").status_code == read
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/pause/").status_code == run
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/resume/").status_code == run
    assert client.post(f"{CAMPAIGNS}{campaign.pk}/cancel/").status_code == run
    campaign.refresh_from_db()
    assert campaign.state == (CampaignState.CANCELED if run == 200 else CampaignState.RUNNING)


# ----------------------------------------------------------------------------- actions


@pytest.mark.django_db
def test_pause_holds_the_calls_not_sent_and_a_worker_then_claims_none(runner: User) -> None:
    campaign = new_campaign(PHONE, OTHER, THIRD)
    set_status(campaign, CallStatus.ACCEPTED, 1)  # on its way already: it finishes
    testing.reset_outbox()

    response = client_for(runner).post(f"{CAMPAIGNS}{campaign.pk}/pause/")

    assert response.status_code == 200, response.data
    assert response.data["held"] == 2
    assert response.data["campaign"]["state"] == "paused"
    assert response.data["campaign"]["paused_at"]
    assert response.data["campaign"]["figures"]["by_status"]["pending"] == 2
    held = list(campaign.calls.filter(status=CallStatus.PENDING))
    assert {call.hold for call in held} == {Hold.CAMPAIGN_PAUSED}
    for call in held:
        assert services.place_call(call.pk).skipped
    assert testing.outbox == []
    assert campaign.calls.filter(status=CallStatus.PENDING).count() == 2
    listed = client_for(make_user("reader", "view_voicecall")).get(
        CALLS, {"campaign": str(campaign.pk), "status": "pending"}
    )
    assert {c["hold"] for c in listed.data["results"]} == {"campaign_paused"}


@pytest.mark.django_db
def test_resume_releases_the_held_calls_to_the_workers(
    runner: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign = new_campaign(PHONE, OTHER)
    services.pause_campaign(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(runner).post(f"{CAMPAIGNS}{campaign.pk}/resume/")

    assert response.status_code == 200, response.data
    assert response.data["released"] == 2
    assert response.data["campaign"]["state"] == "running"
    assert not campaign.calls.exclude(hold=Hold.NONE).exists()
    enqueued = sorted(c.args[0][0] for c in apply_async.call_args_list)
    assert enqueued == sorted(campaign.calls.values_list("pk", flat=True))


@pytest.mark.django_db
def test_cancel_cancels_the_calls_never_sent_and_leaves_sent_ones(runner: User) -> None:
    campaign = new_campaign(PHONE, OTHER, THIRD)
    set_status(campaign, CallStatus.ACCEPTED, 1)

    response = client_for(runner).post(f"{CAMPAIGNS}{campaign.pk}/cancel/")

    assert response.status_code == 200, response.data
    assert response.data["canceled"] == 2
    assert response.data["campaign"]["state"] == "canceled"
    assert response.data["campaign"]["finished_at"]
    by_status = response.data["campaign"]["figures"]["by_status"]
    assert (by_status["canceled"], by_status["accepted"], by_status["pending"]) == (2, 1, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        ("running", "resume", "Only a paused campaign can be resumed; this one is “Running”."),
        ("paused", "pause", "Only a running campaign can be paused; this one is “Paused”."),
        ("completed", "pause", "Only a running campaign can be paused; this one is “Completed”."),
        (
            "canceled",
            "cancel",
            "Only a running or paused campaign can be canceled; this one is “Canceled”.",
        ),
        ("canceled", "resume", "Only a paused campaign can be resumed; this one is “Canceled”."),
    ],
)
def test_an_action_its_state_does_not_allow_is_a_409_saying_why(
    admin: APIClient, state: str, action: str, message: str
) -> None:
    campaign = new_campaign(PHONE)
    Campaign.objects.filter(pk=campaign.pk).update(state=state)

    response = admin.post(f"{CAMPAIGNS}{campaign.pk}/{action}/")

    assert response.status_code == 409
    assert response.json() == {"detail": message}
    campaign.refresh_from_db()
    assert campaign.state == state
    assert not campaign.calls.exclude(hold=Hold.NONE).exists()


@pytest.mark.django_db
def test_the_409_reads_in_vietnamese(admin: APIClient) -> None:
    campaign = new_campaign(PHONE)
    with translation.override("vi"):
        response = admin.post(f"{CAMPAIGNS}{campaign.pk}/resume/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Chỉ có thể tiếp tục một chiến dịch đang tạm dừng; chiến dịch này đang ở trạng thái "
        "“Đang chạy”."
    )


# ----------------------------------------------------------------------------- creating


@pytest.mark.django_db
def test_a_batch_makes_a_campaign_and_answers_its_id_and_url(placer: User) -> None:
    client = client_for(placer)
    response = client.post(
        CALLS, batch_body(PHONE, OTHER, batch="spring", purpose="advertising"), format="json"
    )
    assert response.status_code == 201, response.data
    campaign = Campaign.objects.get()
    assert (response.data["batch"], response.data["campaign"]) == ("spring", campaign.pk)
    assert response.data["campaign_url"] == f"http://testserver{CAMPAIGNS}{campaign.pk}/"
    assert {c["campaign"] for c in response.data["calls"]} == {campaign.pk}
    assert (campaign.name, campaign.purpose, campaign.source, campaign.created_by) == (
        "spring", "advertising", CampaignSource.API, placer,
    )  # fmt: skip
    assert campaign.calls.count() == 2


@pytest.mark.django_db
def test_a_batch_without_a_name_makes_a_named_campaign(placer: User) -> None:
    response = client_for(placer).post(CALLS, batch_body(PHONE)["calls"], format="json")
    assert response.status_code == 201, response.data
    campaign = Campaign.objects.get(pk=response.data["campaign"])
    assert campaign.name == response.data["batch"]
    assert campaign.name.startswith("api-")


@pytest.mark.django_db
def test_a_batch_joins_an_existing_campaign(placer: User) -> None:
    campaign = new_campaign(PHONE, name="weekly")

    response = client_for(placer).post(
        CALLS, batch_body(OTHER, THIRD, campaign=campaign.pk, batch="weekly"), format="json"
    )

    assert response.status_code == 201, response.data
    assert (response.data["campaign"], response.data["batch"]) == (campaign.pk, "weekly")
    assert Campaign.objects.count() == 1
    assert campaign.calls.count() == 3


@pytest.mark.django_db
def test_calls_added_to_a_paused_campaign_wait_for_it(
    placer: User, apply_async: mock.Mock, django_capture_on_commit_callbacks: Any
) -> None:
    campaign = new_campaign(PHONE)
    services.pause_campaign(campaign)
    client = client_for(placer)

    with django_capture_on_commit_callbacks(execute=True):
        batch = client.post(CALLS, batch_body(OTHER, campaign=campaign.pk), format="json")
        one = client.post(
            CALLS, {"phone": THIRD, "template_id": "rec-1", "campaign": campaign.pk}, format="json"
        )

    assert (batch.status_code, one.status_code) == (201, 201), (batch.data, one.data)
    assert one.data["campaign"] == campaign.pk
    assert {batch.data["calls"][0]["hold"], one.data["hold"]} == {"campaign_paused"}
    assert apply_async.call_args_list == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"campaign": 999999}, "campaign"),
        ({"campaign": "canceled"}, "campaign"),
        ({"campaign": "open", "purpose": "advertising"}, "purpose"),
        ({"campaign": "open", "batch": "another name"}, "batch"),
    ],
)
def test_a_batch_refuses_a_campaign_it_cannot_join(
    placer: User, extra: dict[str, Any], field: str
) -> None:
    open_one = new_campaign(PHONE, name="open", purpose="customer_care")
    canceled = new_campaign(PHONE, name="canceled")
    services.cancel_campaign(canceled)
    ids = {"open": open_one.pk, "canceled": canceled.pk}
    body = {**extra, "campaign": ids.get(extra["campaign"], extra["campaign"])}
    client = client_for(placer)

    batch = client.post(CALLS, batch_body(OTHER, **body), format="json")

    assert batch.status_code == 400
    assert set(batch.data) == {field}, batch.data
    assert VoiceCall.objects.filter(phone=OTHER).count() == 0
    if extra["campaign"] == "canceled":
        one = client.post(
            CALLS, {"phone": OTHER, "template_id": "1", "campaign": canceled.pk}, format="json"
        )
        assert one.status_code == 400
        assert "was canceled" in one.data["campaign"][0]


@pytest.mark.django_db
def test_a_campaign_canceled_after_the_check_is_still_refused(
    placer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check and the creation are apart: the creation's lock refuses it too (a 400)."""
    campaign = new_campaign(PHONE)
    from django_esms_voice.api import serializers as api_serializers

    monkeypatch.setattr(api_serializers, "open_campaign", lambda campaign: campaign)
    services.cancel_campaign(campaign)
    client = client_for(placer)

    batch = client.post(CALLS, batch_body(OTHER, campaign=campaign.pk), format="json")
    one = client.post(
        CALLS, {"phone": OTHER, "template_id": "1", "campaign": campaign.pk}, format="json"
    )

    assert (batch.status_code, one.status_code) == (400, 400)
    assert "was canceled" in batch.data["campaign"][0]
    assert "was canceled" in one.data["campaign"][0]
    assert not VoiceCall.objects.filter(phone=OTHER).exists()


@pytest.mark.django_db
def test_a_batch_replayed_with_its_idempotency_key_answers_the_same_campaign(
    placer: User,
) -> None:
    client = client_for(placer)
    body = batch_body(PHONE, OTHER, batch="once")
    first = client.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(CALLS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["campaign"] == Campaign.objects.get().pk
    assert VoiceCall.objects.count() == 2
