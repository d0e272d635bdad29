"""Every page that places calls shows the count, the eSMS balance and the estimated cost first."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_esms_voice.admin import spending as spending_module
from django_esms_voice.backends import LocmemBackend
from django_esms_voice.models import CallKind, VoiceCall
from django_esms_voice.money import format_dong as dong
from django_esms_voice.states import CallStatus
from django_esms_voice.testing import script_balance
from tests.admin.helpers import CALL_MANY, CHANGELIST, OTHER, PHONE, THIRD, make_call, many_data

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin.urls")]


def history() -> None:
    """Recent priced calls: 3 answered at 800 đồng, 1 unanswered at 0 (a 75 % answer rate)."""
    for phone in ("0987000001", "0987000002", "0987000003"):
        make_call(phone=phone, status=CallStatus.ANSWERED, price=Decimal(800))
    make_call(phone="0987000004", status=CallStatus.NO_ANSWER, price=Decimal(0))


def figures(response: Any) -> str:
    """The text of the page's figures table and its warning."""
    html = response.content.decode()
    start = html.index('<table class="esms-voice-spending">')
    end = html.find("</p>", html.index("</table>", start))
    return html[start : max(end, html.index("</table>", start))]


def place_now(client: Client, calls: list[VoiceCall]) -> Any:
    data = {"action": "place_now", "_selected_action": [c.pk for c in calls], "index": "0"}
    return client.post(reverse(CHANGELIST), data)


def test_place_now_shows_the_count_balance_and_estimate(op: Client) -> None:
    history()
    script_balance(1_250_000)
    response = place_now(op, [make_call(), make_call(phone=OTHER)])
    shown = figures(response)
    assert 'class="esms-voice-spending-count">2<' in shown
    assert dong(1_250_000) in shown
    # 2 * (0.75 * 800 + 0.25 * 0) = 1,200 đồng, between 0 (none answered) and 1,600.
    assert f"about {dong(1_200)} (between {dong(0)} and {dong(1_600)})" in shown
    assert (
        f"From the last 4 priced calls: 75% answered, {dong(800)} per answered call, "
        f"{dong(0)} per unanswered call." in shown
    )
    assert "esms-voice-spending-warning" not in shown


def test_a_cost_above_the_balance_is_warned_about(op: Client) -> None:
    history()
    script_balance(1000)
    response = place_now(op, [make_call(), make_call(phone=OTHER)])
    assert (
        f"The estimated cost ({dong(1_200)}) is more than the eSMS balance ({dong(1_000)})."
        in figures(response)
    )


def test_a_balance_that_cannot_be_read_is_said_so(op: Client) -> None:
    history()
    script_balance(code=101)
    response = place_now(op, [make_call()])
    shown = figures(response)
    assert "The eSMS balance could not be read: wrong ApiKey or SecretKey (101)." in shown
    assert f"about {dong(600)}" in shown  # the estimate is still shown
    assert "esms-voice-spending-warning" not in shown
    assert response.status_code == 200


def test_no_history_says_there_is_no_estimate(op: Client) -> None:
    response = place_now(op, [make_call()])
    assert "No priced call yet: no estimate." in figures(response)


def test_the_balance_is_asked_once_per_cache_time(
    op: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = mock.Mock(wraps=LocmemBackend.get_balance)
    monkeypatch.setattr(LocmemBackend, "get_balance", lambda self: read(self))
    calls = [make_call()]
    place_now(op, calls)
    place_now(op, calls)
    assert read.call_count == 1


def test_nothing_is_asked_when_no_call_would_be_placed(
    op: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = mock.Mock(side_effect=AssertionError("no balance needed"))
    monkeypatch.setattr(spending_module, "current_balance", read)
    response = place_now(op, [make_call(status=CallStatus.ANSWERED)])
    assert "esms-voice-spending" not in response.content.decode()


def test_retry_shows_the_figures(op: Client) -> None:
    history()
    response = op.post(
        reverse(CHANGELIST),
        {
            "action": "retry_calls",
            "_selected_action": [make_call(status=CallStatus.REJECTED).pk],
            "index": "0",
        },
    )
    shown = figures(response)
    assert 'class="esms-voice-spending-count">1<' in shown
    assert dong(1_000_000) in shown  # the locmem backend's default balance
    assert f"about {dong(600)}" in shown


def test_call_many_estimates_the_kind_of_call_chosen(op: Client) -> None:
    history()  # recordings
    make_call(phone="0987000005", kind=CallKind.TEMPLATE, status=CallStatus.ANSWERED, price=2000)
    response = op.post(
        reverse(CALL_MANY), many_data(numbers=f"{PHONE}, An\n{OTHER}, Binh", kind="template")
    )
    shown = figures(response)
    assert 'class="esms-voice-spending-count">2<' in shown
    assert f"about {dong(4_000)}" in shown
    response = op.post(reverse(CALL_MANY), many_data(numbers=f"{PHONE}\n{OTHER}\n{THIRD}"))
    assert f"about {dong(1_800)}" in figures(response)


def test_the_host_action_shows_the_figures(op: Client, operator: User) -> None:
    history()
    customers = [
        User.objects.create_user(f"c{n}", first_name="An", last_name=phone)
        for n, phone in enumerate([PHONE, OTHER, ""])
    ]
    response = op.post(
        "/host-admin/auth/user/",
        {
            "action": "esms_voice_call_last_name",
            "_selected_action": [u.pk for u in customers],
            "index": "0",
        },
    )
    shown = figures(response)
    assert 'class="esms-voice-spending-count">2<' in shown  # the one without a phone is skipped
    assert f"about {dong(1_200)}" in shown


def test_the_figures_read_the_vietnamese_way(op: Client, settings: Any) -> None:
    settings.LANGUAGE_CODE = "vi"
    history()
    script_balance(1_250_000)
    response = place_now(op, [make_call(), make_call(phone=OTHER)])
    shown = figures(response)
    assert dong(1_250_000, "vi") in shown
    assert dong(1_250_000, "vi").startswith("1.250.000")
    assert "Số dư eSMS" in shown
    assert "khoảng " + dong(1_200, "vi") in shown


def test_the_figures_cost_one_query_whatever_the_history(
    op: Client, django_assert_num_queries: Any
) -> None:
    VoiceCall.objects.bulk_create(
        VoiceCall(
            phone=PHONE,
            kind=CallKind.RECORD,
            template_id="1",
            status=CallStatus.ANSWERED,
            price=Decimal(500),
        )
        for _ in range(200)
    )
    with django_assert_num_queries(1):
        shown = spending_module.spending(10)
    assert shown.expected_shown == dong(5_000)
