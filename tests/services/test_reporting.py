"""The figures a manager reads: counts, rates, cost, pace, errors by cause, timeline, overview."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from django_esms_voice.errors import ERRORS, explain
from django_esms_voice.models import Campaign, VoiceCall
from django_esms_voice.purposes import Purpose
from django_esms_voice.services import placing, reporting, sweeping
from django_esms_voice.services.reporting import (
    campaign_figures,
    figures,
    overview,
    timeline,
)
from django_esms_voice.states import CallStatus

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.UTC)  # 17:30 in Hồ Chí Minh City


def campaign(name: str = "Nhắc lịch hẹn", **fields: Any) -> Campaign:
    return Campaign.objects.create(name=name, kind="record", template_id="rec-1", **fields)


def make_calls(owner: Campaign | None, count: int, status: str, **fields: Any) -> None:
    """Create `count` calls of a campaign in one status; timestamps set as given."""
    stamps = {k: fields.pop(k) for k in ("created_at",) if k in fields}
    made = VoiceCall.objects.bulk_create(
        VoiceCall(
            kind="record",
            template_id="rec-1",
            phone=f"090{index:07d}",
            status=status,
            campaign=owner,
            **fields,
        )
        for index in range(count)
    )
    if stamps:
        VoiceCall.objects.filter(pk__in=[c.pk for c in made]).update(**stamps)


def mixed_campaign(now: dt.datetime = NOW) -> Campaign:
    """A campaign with a bit of everything, some of it ended in the last ten minutes."""
    c = campaign()
    recent, earlier = now - dt.timedelta(minutes=3), now - dt.timedelta(hours=2)
    make_calls(c, 3, CallStatus.ANSWERED, duration=20, price=Decimal("750.5"), ivr_pressed="1",
               completed_at=recent)  # fmt: skip
    make_calls(c, 1, CallStatus.ANSWERED, duration=40, price=Decimal(750), completed_at=earlier)
    make_calls(c, 2, CallStatus.NO_ANSWER, duration=0, price=Decimal(0), completed_at=recent)
    make_calls(c, 1, CallStatus.FAILED, completed_at=earlier)
    make_calls(c, 2, CallStatus.REJECTED, last_error_code="108", completed_at=recent)
    make_calls(c, 1, CallStatus.REJECTED, last_error_code="99", completed_at=earlier)
    make_calls(c, 1, CallStatus.ERROR, last_error_code="timeout", completed_at=earlier)
    make_calls(c, 1, CallStatus.UNKNOWN, last_error_code="no_result", completed_at=recent)
    make_calls(c, 5, CallStatus.CANCELED, completed_at=recent)  # not the pace
    make_calls(c, 4, CallStatus.PENDING)
    make_calls(c, 1, CallStatus.PENDING, last_error_code="timeout", attempts=1)
    make_calls(c, 1, CallStatus.SUBMITTING)
    make_calls(c, 2, CallStatus.ACCEPTED)
    make_calls(c, 1, CallStatus.IN_PROGRESS)
    return c


def test_a_campaigns_figures_count_rate_and_price_its_calls() -> None:
    c = mixed_campaign()
    make_calls(campaign(name="Other"), 7, CallStatus.ANSWERED, price=Decimal(1))  # not counted

    f = campaign_figures(c, now=NOW)

    assert f.total == 26
    assert set(f.by_status) == set(CallStatus.values)
    assert f.by_status[CallStatus.PENDING] == 5
    assert (f.answered, f.no_answer, f.failed) == (4, 2, 1)
    assert (f.refused, f.errors, f.unknown, f.canceled) == (3, 1, 1, 5)
    assert (f.open, f.finished) == (9, 17)
    assert f.answer_rate == pytest.approx(4 / 7)
    assert f.key_press_rate == pytest.approx(3 / 4)
    assert f.average_duration == pytest.approx(25.0)  # (3 * 20 + 40) / 4 answered
    assert f.total_duration == 100
    assert f.total_cost == Decimal("3001.5")  # 3 * 750.5 + 750 + 2 * 0
    assert (f.billed, f.unpriced) == (8, 2)  # the failed and the unknown call have no Price
    assert f.first_completed_at == NOW - dt.timedelta(hours=2)
    assert f.last_completed_at == NOW - dt.timedelta(minutes=3)


def test_the_cost_is_the_one_the_calls_costs_report() -> None:
    c = mixed_campaign()
    costs = VoiceCall.objects.filter(campaign=c).costs()
    f = campaign_figures(c, now=NOW)
    assert (f.total_cost, f.billed, f.unpriced) == (
        costs["total"],
        costs["billed"],
        costs["unpriced"],
    )


def test_the_pace_counts_what_ended_in_the_last_ten_minutes_and_gives_the_time_left() -> None:
    f = campaign_figures(mixed_campaign(), now=NOW)
    # 3 answered + 2 no answer + 2 refused + 1 unknown in the last ten minutes; not the 5
    # canceled ones (a cancel is not the pace of placing).
    assert f.per_minute == pytest.approx(0.8)
    assert f.eta == dt.timedelta(minutes=9 / 0.8)


def test_no_pace_no_time_left_and_nothing_open_nothing_left() -> None:
    c = campaign()
    make_calls(c, 2, CallStatus.PENDING)
    make_calls(c, 1, CallStatus.ANSWERED, completed_at=NOW - dt.timedelta(hours=1))
    assert campaign_figures(c, now=NOW).eta is None
    VoiceCall.objects.filter(status=CallStatus.PENDING).update(status=CallStatus.CANCELED)
    assert campaign_figures(c, now=NOW).eta == dt.timedelta(0)


def test_rates_are_none_rather_than_a_division_by_zero() -> None:
    c = campaign()
    assert campaign_figures(c).total == 0
    make_calls(c, 2, CallStatus.REJECTED, last_error_code="108")
    f = campaign_figures(c)
    assert (f.answer_rate, f.key_press_rate, f.average_duration) == (None, None, None)
    assert f.total_cost == Decimal(0)


def test_errors_are_grouped_by_cause_with_what_to_do_most_frequent_first() -> None:
    f = campaign_figures(mixed_campaign(), now=NOW)
    groups = [(g.code, g.count) for g in f.error_groups]
    # The pending call waiting after a timeout is not an error (yet): only refused, given-up
    # and charged-without-result calls.
    assert groups == [("108", 2), ("99", 1), ("no_result", 1), ("timeout", 1)]
    code, count, meaning, advice = f.error_groups[0]
    assert (code, count) == ("108", 2)
    assert (meaning, advice) == (ERRORS["108"].meaning, ERRORS["108"].advice)


def test_an_error_group_reads_in_vietnamese() -> None:
    f = campaign_figures(mixed_campaign(), now=NOW)
    with translation.override("vi"):
        assert str(f.error_groups[0].meaning) == "Số điện thoại sai định dạng"
        assert str(f.error_groups[0].advice).startswith("Kiểm tra lại số điện thoại")


def test_every_code_the_app_stores_is_explained() -> None:
    """The codes placing and the sweep write: each exception's code, no_result."""
    stored = {"timeout", "connection", "http_4xx", "http_5xx", "bad_response", "transport"}
    stored |= {"settings", "invalid", sweeping.NO_RESULT}
    assert stored <= set(ERRORS)
    assert "error_code(" in Path(placing.__file__).read_text(encoding="utf-8")
    for code in ("101", "102", "103", "140", "99", "104", "106", "108"):
        assert ERRORS[code].advice


def test_an_unknown_code_is_explained_too() -> None:
    assert str(explain("777").meaning) == "Unknown eSMS result code"
    assert str(explain("SomethingNew").meaning) == "Unrecognised error"
    assert str(explain("").meaning) == "No error code was recorded"
    assert explain(" 108 ") is ERRORS["108"]


@pytest.mark.parametrize("calls", [10, 1000])
def test_the_figures_take_one_query_whatever_the_number_of_calls(
    calls: int, django_assert_num_queries: Any
) -> None:
    c = campaign()
    for status in (CallStatus.ANSWERED, CallStatus.REJECTED, CallStatus.PENDING):
        make_calls(c, calls // 3, status, last_error_code="108" if status == "rejected" else "")
    make_calls(c, calls - 3 * (calls // 3), CallStatus.UNKNOWN, last_error_code="no_result")
    with django_assert_num_queries(1):
        f = campaign_figures(c)
    assert f.total == calls
    assert [g.count for g in f.error_groups] == [calls // 3, calls - 3 * (calls // 3)]
    with django_assert_num_queries(1):
        assert figures(VoiceCall.objects.all()).total == calls


# ----------------------------------------------------------------------------- timeline


def ended(c: Campaign, status: str, *moments: dt.datetime) -> None:
    for moment in moments:
        make_calls(c, 1, status, completed_at=moment)


def test_a_short_campaigns_timeline_counts_outcomes_per_minute_in_local_time() -> None:
    c = campaign()
    start = NOW - dt.timedelta(minutes=30)
    ended(c, CallStatus.ANSWERED, start, start + dt.timedelta(seconds=30), NOW)
    ended(c, CallStatus.NO_ANSWER, start + dt.timedelta(minutes=2, seconds=5))
    make_calls(c, 3, CallStatus.PENDING)  # not ended: not on the timeline

    bars = timeline(c)

    assert (bars.unit, bars.step) == ("minute", dt.timedelta(minutes=1))
    assert len(bars) == 31  # every minute from the first to the last, the empty ones too
    first_start, first_counts = bars[0]
    assert timezone.localtime(first_start).strftime("%H:%M") == "17:00"
    assert first_counts["answered"] == 2
    assert bars[2].counts["no_answer"] == 1
    assert bars[-1].counts["answered"] == 1
    assert set(first_counts) == {s.value for s in reporting.OUTCOMES}
    assert sum(sum(b.counts.values()) for b in bars) == 4


def test_a_long_span_is_counted_in_hours_then_days_in_few_bars() -> None:
    c = campaign()
    ended(c, CallStatus.ANSWERED, NOW - dt.timedelta(hours=20), NOW)
    bars = timeline(c, buckets=12)
    assert bars.unit == "hour"
    assert bars.step == dt.timedelta(hours=2)  # 21 hours in at most 12 bars
    assert len(bars) <= 12

    ended(c, CallStatus.FAILED, NOW - dt.timedelta(days=20))
    bars = timeline(c)
    assert (bars.unit, bars.step) == ("day", dt.timedelta(days=1))
    assert len(bars) == 21
    assert timezone.localtime(bars[0].start).strftime("%H:%M") == "00:00"  # local midnight
    assert bars[0].counts["failed"] == 1
    # 20 hours before 17:30 is 21:30 the day before, in local time.
    assert (bars[-2].counts["answered"], bars[-1].counts["answered"]) == (1, 1)


def test_a_timeline_of_nothing_ended_is_empty() -> None:
    c = campaign()
    make_calls(c, 2, CallStatus.PENDING)
    assert timeline(c) == []


@pytest.mark.parametrize("calls", [10, 1000])
def test_the_timeline_takes_one_query_given_the_figures_two_without(
    calls: int, django_assert_num_queries: Any
) -> None:
    c = campaign()
    make_calls(c, calls // 2, CallStatus.ANSWERED, completed_at=NOW - dt.timedelta(hours=1))
    make_calls(c, calls - calls // 2, CallStatus.FAILED, completed_at=NOW)
    f = campaign_figures(c, now=NOW)
    with django_assert_num_queries(1):
        bars = timeline(c, figures=f)
    assert sum(sum(b.counts.values()) for b in bars) == calls
    with django_assert_num_queries(2):
        assert timeline(VoiceCall.objects.filter(campaign=c)) == bars


# ----------------------------------------------------------------------------- overview


def test_the_overview_counts_today_the_week_and_the_month_by_campaign_and_purpose(
    settings: Any,
) -> None:
    settings.ESMS_VOICE = {**settings.ESMS_VOICE, "DEFAULT_PURPOSE": "transactional"}
    ads = campaign("Khuyến mãi", purpose=Purpose.ADVERTISING)
    care = campaign("Nhắc lịch", purpose=Purpose.CUSTOMER_CARE)
    local_midnight = timezone.localtime(NOW).replace(hour=0, minute=0)
    today, yesterday = (
        local_midnight + dt.timedelta(minutes=1),
        local_midnight - dt.timedelta(minutes=1),
    )
    make_calls(ads, 3, CallStatus.ANSWERED, price=Decimal(700), created_at=today)
    make_calls(ads, 2, CallStatus.NO_ANSWER, created_at=yesterday)
    make_calls(care, 4, CallStatus.ANSWERED, created_at=local_midnight - dt.timedelta(days=10))
    make_calls(None, 1, CallStatus.FAILED, created_at=today)  # a single call, no campaign
    make_calls(care, 9, CallStatus.ANSWERED, created_at=local_midnight - dt.timedelta(days=31))

    day, week, month = overview(NOW)

    assert [p.key for p in (day, week, month)] == ["today", "7d", "30d"]
    assert day.since == local_midnight
    assert (day.figures.total, week.figures.total, month.figures.total) == (4, 6, 10)
    assert [(r.name, r.figures.total) for r in day.campaigns] == [
        ("Khuyến mãi", 3),
        ("No campaign", 1),
    ]
    assert day.figures.total_cost == Decimal(2100)
    assert [(r.campaign_id, r.figures.answered) for r in month.campaigns] == [
        (ads.pk, 3),
        (care.pk, 4),
        (None, 0),
    ]
    purposes = {r.purpose: r.figures.total for r in week.purposes}
    # The call without a campaign counts for DEFAULT_PURPOSE.
    assert purposes == {"advertising": 5, "customer_care": 0, "transactional": 1}
    assert week.purposes[0].figures.answer_rate == pytest.approx(3 / 5)


def test_the_overview_keeps_the_top_campaigns_and_counts_the_rest() -> None:
    for index in range(4):
        make_calls(campaign(f"c{index}"), index + 1, CallStatus.ANSWERED, created_at=NOW)
    day = overview(NOW, top=2)[0]
    assert [r.name for r in day.campaigns] == ["c3", "c2"]
    assert day.more_campaigns == 2
    assert day.figures.total == 10


@pytest.mark.parametrize("calls", [10, 1000])
def test_the_overview_takes_one_query(calls: int, django_assert_num_queries: Any) -> None:
    for index in range(3):
        make_calls(campaign(f"c{index}"), calls // 3, CallStatus.ANSWERED, created_at=NOW)
    make_calls(None, calls - 3 * (calls // 3), CallStatus.REJECTED, last_error_code="108",
               created_at=NOW - dt.timedelta(days=3))  # fmt: skip
    with django_assert_num_queries(1):
        periods = overview(NOW)
    assert periods[-1].figures.total == calls
    assert periods[-1].figures.error_groups[0].count == calls - 3 * (calls // 3)


# ----------------------------------------------------------------------------- progress


def test_progress_counts_by_status_and_gives_the_pace_the_figures_give() -> None:
    c = mixed_campaign()
    p = reporting.progress(c, now=NOW)
    f = campaign_figures(c, now=NOW)
    assert (p.total, p.open, p.finished) == (f.total, f.open, f.finished)
    assert p.by_status == f.by_status
    assert (p.per_minute, p.eta) == (f.per_minute, f.eta)


@pytest.mark.parametrize("calls", [10, 1000])
def test_progress_takes_two_queries(calls: int, django_assert_num_queries: Any) -> None:
    c = campaign()
    make_calls(c, calls // 2, CallStatus.PENDING)
    make_calls(c, calls - calls // 2, CallStatus.ANSWERED, completed_at=NOW)
    with django_assert_num_queries(2):
        p = reporting.progress(VoiceCall.objects.filter(campaign=c), now=NOW)
    assert (p.total, p.open) == (calls, calls // 2)


# ----------------------------------------------------------------------------- a campaign's


def test_a_campaigns_figures_are_those_of_its_calls() -> None:
    """campaign_figures reads indexes, figures() the rows: the same numbers."""
    c = mixed_campaign()
    make_calls(c, 2, CallStatus.ANSWERED, duration=None, price=None, ivr_pressed="12",
               completed_at=NOW - dt.timedelta(minutes=1))  # fmt: skip
    make_calls(c, 1, CallStatus.NO_ANSWER, price=Decimal("0.5"), completed_at=NOW)
    make_calls(campaign(name="Other"), 3, CallStatus.ANSWERED, price=Decimal(1))

    assert campaign_figures(c, now=NOW) == figures(reporting.campaign_calls(c), now=NOW)


@pytest.mark.parametrize("calls", [10, 1000])
def test_a_lists_campaigns_get_their_own_figures_in_one_query(
    calls: int, django_assert_num_queries: Any
) -> None:
    """The numbers campaign_figures gives each, for any number of calls and campaigns."""
    mixed, empty, unlisted = mixed_campaign(), campaign(name="Empty"), campaign(name="Unlisted")
    big = campaign(name="Big")
    make_calls(big, calls // 2, CallStatus.ANSWERED, duration=30, price=Decimal(800),
               ivr_pressed="1", completed_at=NOW - dt.timedelta(minutes=1))  # fmt: skip
    make_calls(big, calls - calls // 2, CallStatus.REJECTED, last_error_code="108",
               completed_at=NOW - dt.timedelta(hours=1))  # fmt: skip
    make_calls(unlisted, 3, CallStatus.ANSWERED, price=Decimal(1), completed_at=NOW)
    make_calls(None, 2, CallStatus.ANSWERED, price=Decimal(1), completed_at=NOW)

    with django_assert_num_queries(1):
        found = reporting.figures_by_campaign([mixed.pk, empty.pk, big.pk], now=NOW)

    assert found == {c.pk: campaign_figures(c, now=NOW) for c in (mixed, empty, big)}
    assert (found[big.pk].total, found[big.pk].total_cost) == (calls, 800 * (calls // 2))
    assert found[empty.pk].total == 0
    with django_assert_num_queries(0):
        assert reporting.figures_by_campaign([]) == {}


def test_a_campaigns_timeline_in_days_starts_each_bar_at_local_midnight() -> None:
    """Across a daylight-saving change, like the day bars of any other calls."""
    c = campaign()
    with timezone.override("Europe/Paris"):  # 25 October 2026: the clocks go back an hour
        ended(c, CallStatus.ANSWERED, dt.datetime(2026, 10, 15, 21, 59, tzinfo=dt.UTC))
        ended(c, CallStatus.FAILED, dt.datetime(2026, 10, 25, 22, 30, tzinfo=dt.UTC))
        ended(c, CallStatus.FAILED, dt.datetime(2026, 10, 25, 23, 30, tzinfo=dt.UTC))

        bars = timeline(c)

        assert (bars.unit, bars.step) == ("day", dt.timedelta(days=1))
        assert bars == timeline(VoiceCall.objects.filter(campaign=c))
        assert {timezone.localtime(b.start).strftime("%H:%M") for b in bars} == {"00:00"}
        assert bars[0].counts["answered"] == 1  # 23:59 in Paris, summer time
        assert [b.counts["failed"] for b in bars[-2:]] == [1, 1]  # 23:30, then 00:30


def scans(sql: str) -> list[tuple[str, str]]:
    """A plan's scans of the calls, index-only ones alone allowed, and ("Group Key", key)s."""
    table = VoiceCall._meta.db_table
    with connection.cursor() as cursor:
        # Not enable_indexscan: it turns index-only scans off too. With the table's pages
        # all-visible, an index-only scan is the cheapest plan when the index covers the query.
        for kind in ("seqscan", "bitmapscan"):
            cursor.execute(f"SET LOCAL enable_{kind} = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()  # psycopg reads the JSON
    found, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        if node.get("Relation Name") == table:
            found.append((node["Node Type"], node.get("Index Name", "")))
        found.extend(("Group Key", key) for key in node.get("Group Key", []))
    return found


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
@pytest.mark.django_db(transaction=True)
def test_a_campaigns_page_reads_indexes_only() -> None:
    """Its figures and timeline name no column outside their indexes (rows: 230 MB at 1M)."""
    c = mixed_campaign()
    # As a live table is: its pages all-visible, its statistics its own (not those of the
    # rows other tests left), else the planner may rightly prefer a bitmap scan of 20 pages.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {VoiceCall._meta.db_table}")
    with CaptureQueriesContext(connection) as captured:
        timeline(c, figures=campaign_figures(c, now=NOW))

    with transaction.atomic():  # scans() sets its planner options for one transaction
        found = [scan for query in captured.captured_queries for scan in scans(query["sql"])]
    keys = [key for kind, key in found if kind == "Group Key"]
    found = [(kind, index) for kind, index in found if kind != "Group Key"]

    # Grouped by its two columns only: a value computed once is not a group key.
    assert {key.rsplit(".", 1)[-1] for key in keys} == {"status", "last_error_code"}, keys
    assert {kind for kind, _ in found} == {"Index Only Scan"}, found
    assert {index for _, index in found} == {
        "esms_voice_campaign_status",
        "esms_voice_campaign_outcomes",
        "esms_voice_campaign_unpriced",
        "esms_voice_campaign_done",
    }
