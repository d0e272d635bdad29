"""The campaign list: every row's figures in one query, whatever the calls and campaigns."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.states import CallStatus

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]

CHANGELIST = "admin:esms_voice_campaign_changelist"
#: Each campaign's calls cycle through these: answered (priced), refused, pending.
OUTCOMES = (CallStatus.ANSWERED, CallStatus.REJECTED, CallStatus.PENDING)


def campaigns_of(calls: int, campaigns: int) -> list[Campaign]:
    """`campaigns` campaigns sharing `calls` calls, the calls dealt to them in turn."""
    made = [
        Campaign.objects.create(name=f"c{index:02d}", kind="record", template_id="1234")
        for index in range(campaigns)
    ]
    now = timezone.now()
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=f"0901{i:06d}",
            kind="record",
            template_id="1234",
            campaign=made[i % campaigns],
            status=OUTCOMES[(i // campaigns) % 3],
            last_error_code="108" if OUTCOMES[(i // campaigns) % 3] == "rejected" else "",
            duration=30 if OUTCOMES[(i // campaigns) % 3] == "answered" else None,
            price=Decimal(800) if OUTCOMES[(i // campaigns) % 3] == "answered" else None,
            completed_at=now - dt.timedelta(minutes=i % 90)
            if OUTCOMES[(i // campaigns) % 3] != "pending"
            else None,
        )
        for i in range(calls)
    )
    return made


def rows_of(html: str) -> dict[str, str]:
    """Each listed campaign's row text, by its name."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.DOTALL):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row).replace("\xa0", " "))
        name = re.search(r"\bc\d\d\b", text)
        if name:
            rows[name.group(0)] = text
    return rows


@pytest.mark.parametrize(("calls", "campaigns"), [(10, 5), (1000, 20)])
def test_the_list_makes_the_same_few_queries_at_10_and_1000_calls(
    calls: int, campaigns: int, runner: Client, django_assert_num_queries: Any
) -> None:
    made = campaigns_of(calls, campaigns)
    runner.get(reverse(CHANGELIST))  # warm the content type cache
    # session, user, the user's and groups' permissions, the two counts (filtered and all),
    # the page's campaigns (with their makers), all their figures, the account pause banner,
    # and which running campaigns have ended (none here: one read, no transaction);
    # one query per campaign for its figures made 8 + 20 at 20 campaigns.
    with django_assert_num_queries(10):
        response = runner.get(reverse(CHANGELIST))
    assert response.status_code == 200
    rows = rows_of(response.content.decode())
    assert sorted(rows) == sorted(c.name for c in made)
    for c in made:
        mine = VoiceCall.objects.filter(campaign=c)
        finished = mine.exclude(status=CallStatus.PENDING).count()
        answered = mine.filter(status=CallStatus.ANSWERED).count()
        assert f"{finished:,} / {mine.count():,}" in rows[c.name]
        assert f"{answered * 800:,} ₫" in rows[c.name]
