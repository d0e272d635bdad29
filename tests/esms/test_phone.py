"""Vietnamese numbers as spreadsheets keep them: the leading 0 that Excel drops."""

from __future__ import annotations

import pytest

from django_esms_voice.esms.phone import restore_leading_zero


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
