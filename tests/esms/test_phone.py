"""Vietnamese numbers as spreadsheets keep them: the leading 0 that Excel drops."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_esms_voice.esms.phone import normalize_phone, restore_leading_zero
from django_esms_voice.exceptions import InvalidPhoneNumber


@pytest.mark.parametrize(
    ("value", "restored"),
    [
        (901888484, "0901888484"),  # a mobile number, kept as a number
        ("842345678", "0842345678"),  # 084 is a mobile prefix, not the country code
        (2871002454, "02871002454"),  # a Ho Chi Minh City landline
        ("0901888484", None),  # its 0 is there
        (84901888484, None),  # +84 without the +: no 0 is missing
        (123456789, None),  # no Vietnamese network uses this prefix
        (90188848, None),  # too short to be a number without its 0
        ("90188848a", None),
    ],
)
def test_restore_leading_zero(value: int | str, restored: str | None) -> None:
    assert restore_leading_zero(value) == restored


def test_a_number_longer_than_40_characters_is_shown_shortened() -> None:
    # A pasted paragraph is not echoed whole in the error, the admin or the import report.
    text = "0901888484" + "5" * 31  # 41 characters
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(text, field="to")
    shown = "0901888484" + "5" * 30 + "…"
    assert caught.value.value == shown
    assert caught.value.field == "to"
    assert (
        str(caught.value) == f"to: {shown} is not a valid Vietnamese phone number: it is too long."
    )


def test_a_number_of_40_characters_is_shown_whole() -> None:
    text = "0901888484" + "5" * 30
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(text)
    assert caught.value.value == text
    assert str(caught.value) == (
        f"phone: {text} is not a valid Vietnamese phone number: it is too long."
    )
