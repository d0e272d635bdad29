"""Calling windows: open hours, weekdays and closed dates, read in Vietnam time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from django_esms_voice.windows import Window

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ADVERTISING = Window(dt.time(8), dt.time(17))
#: Monday 2027-02-01 (Vietnam time); Tết 2027 is Saturday 2027-02-06.
MONDAY = dt.date(2027, 2, 1)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of Vietnam time."""
    return dt.datetime.combine(day, dt.time(hour, minute), VN)


@pytest.mark.parametrize(
    ("hour", "minute", "open_"),
    [(7, 59, False), (8, 0, True), (12, 0, True), (16, 59, True), (17, 0, False), (23, 0, False)],
)
def test_the_advertising_window_is_open_from_08_00_to_17_00(
    hour: int, minute: int, open_: bool
) -> None:
    assert ADVERTISING.is_open(at(MONDAY, hour, minute)) is open_


def test_the_window_is_read_in_vietnam_time_whatever_the_moments_zone() -> None:
    utc_01 = dt.datetime.combine(MONDAY, dt.time(1), dt.UTC)  # 08:00 in Vietnam
    assert ADVERTISING.is_open(utc_01)
    assert not ADVERTISING.is_open(utc_01 - dt.timedelta(minutes=1))
    assert ADVERTISING.next_open(utc_01 - dt.timedelta(hours=2)) == at(MONDAY, 8)


def test_a_call_after_closing_waits_for_08_00_the_next_day() -> None:
    assert ADVERTISING.next_open(at(MONDAY, 17)) == at(MONDAY + dt.timedelta(days=1), 8)
    assert ADVERTISING.next_open(at(MONDAY, 6)) == at(MONDAY, 8)
    assert ADVERTISING.next_open(at(MONDAY, 10)) == at(MONDAY, 10)  # open: now


def test_weekdays_and_closed_dates_skip_whole_days() -> None:
    tet = {dt.date(2027, 2, 5), dt.date(2027, 2, 6), dt.date(2027, 2, 8)}
    weekdays_only = Window(dt.time(8), dt.time(17), frozenset({1, 2, 3, 4, 5}), frozenset(tet))
    thursday = MONDAY + dt.timedelta(days=3)
    assert weekdays_only.is_open(at(thursday, 9))
    assert not weekdays_only.is_open(at(thursday + dt.timedelta(days=1), 9))  # Fri 5: closed
    # Friday closed, the weekend off, Monday 8 closed: Tuesday 9 at 08:00.
    assert weekdays_only.next_open(at(thursday, 17)) == at(dt.date(2027, 2, 9), 8)


def test_a_window_that_never_opens_says_so() -> None:
    closed = Window(dt.time(8), dt.time(17), frozenset({1}), frozenset({MONDAY}))
    # Only Mondays, this one closed: the next Monday.
    assert closed.next_open(at(MONDAY, 9)) == at(MONDAY + dt.timedelta(days=7), 8)
    every_monday = frozenset(MONDAY + dt.timedelta(days=7 * n) for n in range(60))
    assert (
        Window(dt.time(8), dt.time(17), frozenset({1}), every_monday).next_open(at(MONDAY, 9))
        is None
    )


def test_a_window_to_midnight_is_open_until_the_last_moment() -> None:
    late = Window(dt.time(7), dt.time.max)
    assert late.is_open(at(MONDAY, 23, 59))
    assert not late.is_open(at(MONDAY, 6, 59))
