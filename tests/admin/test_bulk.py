"""Call many numbers: paste or upload, preview, confirm once, one batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_esms_voice.admin import bulk
from django_esms_voice.models import Campaign, CampaignSource, VoiceCall
from tests.admin.helpers import (
    CALL_MANY,
    OTHER,
    PHONE,
    PLACE_PERMS,
    campaign_page,
    changelist_url,
    enqueued,
    login,
    many_data,
    messages_of,
    staff,
)
from tests.concurrency import at_once

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def test_call_many_needs_the_place_permission(no_place: Client) -> None:
    url = reverse(CALL_MANY)
    assert no_place.get(url).status_code == 403
    assert no_place.post(url, many_data(numbers=PHONE)).status_code == 403
    payload = signing.dumps({"user": 0}, salt=bulk.CALL_MANY_SALT)
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
    assert "2 numbers will be called in campaign “june”." in html
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
    assert messages_of(response) == ["2 calls queued in campaign “june”."]
    campaign = Campaign.objects.get()
    assert response.redirect_chain[-1][0] == campaign_page(campaign)  # the campaign's page
    assert campaign.name == "june"
    assert campaign.source == CampaignSource.CALL_MANY
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
    response = op.post(reverse(CALL_MANY), many_data())
    assert "Paste some numbers or upload a CSV file." in str(response.context["form"].errors)
    assert not VoiceCall.objects.exists()


def test_the_forms_own_example_is_a_recording_call_whose_name_column_is_not_read_out(
    op: Client, apply_async: mock.Mock, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # The placeholder, pasted under the default kind (a recording): called, and told why the
    # name goes nowhere, rather than every row refused.
    url = reverse(CALL_MANY)
    form = op.get(url).context["form"]
    example = form.fields["numbers"].widget.attrs["placeholder"]
    assert form["kind"].initial == "record"
    response = op.post(url, many_data(numbers=f"{example}\n{OTHER},\n{PHONE[:-1]}5, Binh, 1"))
    assert response.context["invalid"] == []
    assert [(r.fields["phone"], r.fields["variables"]) for r in response.context["valid"]] == [
        (PHONE, []),
        (OTHER, []),
        (PHONE[:-1] + "5", []),
    ]
    html = response.content.decode()
    assert f"Row 1: the recording is the same for everyone, “An” is not read out ({PHONE})." in html
    assert "“Binh, 1” is not read out" in html
    assert "Row 2:" not in html  # nothing after the number: nothing to say
    with django_capture_on_commit_callbacks(execute=True):
        op.post(url, {"payload": response.context["payload"]})
    assert [c.variables for c in VoiceCall.objects.order_by("pk")] == [[], [], []]


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
    assert messages_of(first) == ["2 calls queued in campaign “june”."]
    page = campaign_page(Campaign.objects.get())
    assert messages_of(again) == [
        "These calls were already created: 2 calls (campaign “june”). No new call was placed. "
        f'<a href="{page}">See its campaign.</a>'
    ]
    assert again.redirect_chain[-1][0] == page
    assert VoiceCall.objects.count() == 2
    assert len(enqueued(apply_async)) == 2
    # A new preview of the same numbers is a new batch: that one is asked for.
    payload = op.post(url, many_data(numbers=f"{PHONE}\n{OTHER}", batch="june")).context["payload"]
    op.post(url, {"payload": payload})
    assert VoiceCall.objects.count() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")  # waits on pg_locks
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
    page = campaign_page(Campaign.objects.get())
    assert shown == [
        ["2 calls queued in campaign “race”."],
        [
            "These calls were already created: 2 calls (campaign “race”). No new call was placed. "
            f'<a href="{page}">See its campaign.</a>'
        ],
    ]


def test_a_preview_signed_before_confirmations_were_single_use_is_refused(
    op: Client, operator: User
) -> None:
    payload = signing.dumps(
        {"user": operator.pk, "batch": "old", "options": {"kind": "record", "template_id": "1"},
         "rows": [[PHONE, []]]},
        salt=bulk.CALL_MANY_SALT,
        compress=True,
    )  # fmt: skip
    response = op.post(reverse(CALL_MANY), {"payload": payload}, follow=True)
    assert "This preview has expired or is not yours" in messages_of(response)[0]
    assert not VoiceCall.objects.exists()
