"""Money in đồng as the language writes it: 1.250.000 ₫ in Vietnamese, 1,250,000 ₫ in English."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from django_esms_voice.money import format_dong, whole_dong


@pytest.mark.parametrize(
    ("amount", "vietnamese", "english"),
    [
        (Decimal("1250000"), "1.250.000 ₫", "1,250,000 ₫"),
        (Decimal("1250000.5000"), "1.250.001 ₫", "1,250,001 ₫"),  # half up, no decimals
        (Decimal("1249999.4999"), "1.249.999 ₫", "1,249,999 ₫"),
        (Decimal("2.5"), "3 ₫", "3 ₫"),  # not banker's rounding (which gives 2)
        (0, "0 ₫", "0 ₫"),
        (999, "999 ₫", "999 ₫"),
        (1000, "1.000 ₫", "1,000 ₫"),
        (Decimal("-1500.5"), "-1.501 ₫", "-1,501 ₫"),
        ("750.0000", "750 ₫", "750 ₫"),
        (123456789012, "123.456.789.012 ₫", "123,456,789,012 ₫"),
    ],
)
def test_dong_are_whole_and_grouped_the_languages_way(
    amount: Decimal | int | str, vietnamese: str, english: str
) -> None:
    assert format_dong(amount, "vi") == vietnamese
    assert format_dong(amount, "en") == english


def test_the_active_language_is_the_default() -> None:
    with translation.override("vi"):
        assert format_dong(1250000) == "1.250.000 ₫"
    with translation.override("en"):
        assert format_dong(1250000) == "1,250,000 ₫"


def test_no_amount_is_shown_as_nothing() -> None:
    assert format_dong(None, "vi") == ""


def test_whole_dong_rounds_half_up() -> None:
    assert whole_dong(Decimal("0.5")) == 1
    assert whole_dong(Decimal("-0.5")) == -1
    assert whole_dong(1.25) == 1


def test_the_template_filter_formats_in_the_active_language() -> None:
    template = Template("{% load esms_voice_money %}{{ amount|dong }}")
    with translation.override("vi"):
        assert template.render(Context({"amount": Decimal("1250000")})) == "1.250.000 ₫"
    with translation.override("en"):
        assert template.render(Context({"amount": Decimal("1250000")})) == "1,250,000 ₫"
    assert template.render(Context({"amount": None})) == ""
