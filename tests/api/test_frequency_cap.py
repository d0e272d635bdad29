"""A new campaign's calls per number through the API: given with a batch, applied, shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from django_esms_voice import services
from django_esms_voice.models import Campaign
from tests.api.helpers import CALLS, CAMPAIGNS, OTHER, PHONE, SETTINGS, batch_body, client_for

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

AD = {"purpose": "advertising"}


@pytest.fixture(autouse=True)
def _any_time(settings: Any) -> None:
    """Advertising at any hour: these tests are about the cap, not the calling window."""
    settings.ESMS_VOICE = {**SETTINGS, "CALLING_WINDOWS": {"advertising": None}}


def test_a_batch_over_the_purposes_cap_is_refused_row_by_row(placer: User) -> None:
    services.create_call(phone=PHONE, template_id="rec-1", **AD)

    response = client_for(placer).post(CALLS, batch_body(PHONE, OTHER, **AD), format="json")

    assert response.status_code == 400
    assert list(response.json()["calls"]) == ["0"]
    assert "its 1 call(s) of this purpose in 24 h" in str(response.json()["calls"]["0"])


def test_a_batch_sets_its_campaigns_calls_per_number_shown_in_the_output(
    placer: User, admin: APIClient, apply_async: Any
) -> None:
    services.create_call(phone=PHONE, template_id="rec-1", **AD)
    api = client_for(placer)

    response = api.post(CALLS, batch_body(PHONE, OTHER, frequency_cap=2, **AD), format="json")

    assert response.status_code == 201, response.json()
    campaign = Campaign.objects.get(calls__phone=OTHER)
    assert campaign.frequency_cap == 2
    shown = admin.get(f"{CAMPAIGNS}{campaign.pk}/").json()
    assert shown["frequency_cap"] == 2
    assert {row["frequency_cap"] for row in admin.get(CAMPAIGNS).json()["results"]} == {2}


def test_a_negative_cap_or_one_for_an_existing_campaign_is_refused(placer: User) -> None:
    api = client_for(placer)
    negative = api.post(CALLS, batch_body(PHONE, frequency_cap=-1), format="json")
    existing = Campaign.objects.create(name="june", kind="record", frequency_cap=3)
    other = api.post(CALLS, batch_body(PHONE, campaign=existing.pk, frequency_cap=5), format="json")
    same = api.post(CALLS, batch_body(PHONE, campaign=existing.pk, frequency_cap=3), format="json")

    assert negative.status_code == 400
    assert "frequency_cap" in negative.json()
    assert other.status_code == 400
    assert "Leave it out" in other.json()["frequency_cap"][0]
    assert same.status_code == 201
