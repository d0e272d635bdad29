"""Managing the suppression list from code: suppress, unsuppress, ask, import many at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from django_esms_voice import services
from django_esms_voice.exceptions import InvalidPhoneNumber
from django_esms_voice.models import Suppression

pytestmark = pytest.mark.django_db

PHONE = "0901888484"


def test_suppress_normalises_and_keeps_the_first_entry() -> None:
    user = User.objects.create_user("an")
    first = services.suppress(
        "+84 90 188 8484", reason="complained", source="ticket 7", added_by=user
    )
    assert (first.phone, first.reason, first.source, first.added_by) == (
        PHONE, "complained", "ticket 7", user,
    )  # fmt: skip
    again = services.suppress("090-188-8484", reason="other", source="form")
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.reason, again.source) == ("complained", "ticket 7")
    assert Suppression.objects.count() == 1


def test_suppress_refuses_a_bad_number_and_an_unknown_reason() -> None:
    with pytest.raises(InvalidPhoneNumber):
        services.suppress("12345")
    with pytest.raises(ValueError, match="nonsense"):
        services.suppress(PHONE, reason="nonsense")
    assert not Suppression.objects.exists()


def test_is_suppressed_and_unsuppress_in_any_spelling() -> None:
    services.suppress(PHONE)
    assert services.is_suppressed("+84901888484")
    assert not services.is_suppressed("0912345678")
    assert not services.is_suppressed("not a number")
    assert services.unsuppress("84 901 888 484")
    assert not services.unsuppress(PHONE)
    assert not services.unsuppress("garbage")
    assert not services.is_suppressed(PHONE)


def test_import_reports_each_bad_row_with_its_line_and_repeats() -> None:
    services.suppress("0912345678", reason="complained")
    report = services.import_suppressions(
        [PHONE, "12345", "+84 90 188 8484", "0912345678", "", "0987654321"],
        reason="national_dnc",
        source="dnc.csv",
    )
    assert report.created == 2
    assert report.new == [(1, PHONE), (6, "0987654321")]
    assert report.already_listed == [(4, "0912345678")]
    assert [(p.line, p.text) for p in report.problems] == [
        (2, "12345"),
        (3, "+84 90 188 8484"),
        (5, ""),
    ]
    assert "line 1" in report.problems[1].error
    assert report.valid == 3
    kept = Suppression.objects.get(phone="0912345678")
    assert kept.reason == "complained"  # already listed: left as it was
    assert Suppression.objects.get(phone=PHONE).source == "dnc.csv"


def test_import_keeps_the_lines_it_is_given() -> None:
    report = services.check_suppressions([(7, PHONE), (9, "nope")])
    assert report.new == [(7, PHONE)]
    assert report.problems[0].line == 9
    assert not Suppression.objects.exists()  # a check saves nothing


@pytest.mark.parametrize("count", [10, 1000])
def test_an_import_takes_a_fixed_number_of_queries(
    count: int, django_assert_num_queries: Any
) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pinned on PostgreSQL: the lookup is one query there (phone = ANY)")
    services.suppress("0300000000")
    rows = [f"03{index:08d}" for index in range(count)]
    with django_assert_num_queries(2):  # the lookup, one INSERT ... ON CONFLICT DO NOTHING
        report = services.import_suppressions(rows, reason="opted_out", source="bulk")
    assert report.created == count - 1
    assert len(report.already_listed) == 1
    assert Suppression.objects.count() == count
