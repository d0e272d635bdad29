"""Vietnamese numbers as spreadsheets keep them: the leading 0 that Excel drops."""

from __future__ import annotations

import pytest
from django.utils import translation

from django_esms_voice.esms.payloads import RecordCallRequest
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


# 1900/1800 service lines and the 2018 renumbering (issue 13)

SERVICE_LINES = [
    "19001234",
    "1900 1234 56",
    "1900-6868",
    "1800599920",
    "1800 1234",
    "+84 1900 1234",
    "841900123456",
    "+841800599920",
]


@pytest.mark.parametrize("value", SERVICE_LINES)
def test_a_service_line_is_refused_for_calls(value: str) -> None:
    # eSMS would dial it: a premium-rate line billed to us, or a hotline's robot.
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(value)
    assert str(caught.value) == (
        f"phone: {value} is a service line: 1900 and 1800 numbers cannot receive automated calls."
    )
    assert caught.value.value == value


def test_a_service_line_is_refused_in_vietnamese() -> None:
    with translation.override("vi"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone("1900 1234")
    assert str(caught.value.message) == (
        "Số 1900 1234 là tổng đài dịch vụ: số 1900/1800 không nhận cuộc gọi tự động."
    )


def test_a_listener_may_be_forwarded_to_a_hotline() -> None:
    # Only the callee may not be a service line: "press 1 for our hotline 1800…" is common.
    assert normalize_phone("1800 5999 20", service_lines=True) == "1800599920"
    call = RecordCallRequest(
        phone="0901888484", template_id="1", ivr=1, number_forward="1800 5999 20"
    )
    assert call.number_forward == "1800599920"


RENUMBERED = [
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
]


@pytest.mark.parametrize(("old", "new"), RENUMBERED)
def test_an_old_11_digit_number_is_refused_with_its_new_form(old: str, new: str) -> None:
    # Not converted silently: the contact list that holds it should be corrected.
    value = f"{old}3456789"
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(value)
    assert str(caught.value) == (
        f"phone: {value} is an old 11-digit number: since 2018 it is {new} 345 6789."
    )
    assert normalize_phone(f"{new}3456789") == f"{new}3456789"  # the hint is callable


@pytest.mark.parametrize(
    "value", ["0162 345 6789", "+84 162 345 6789", "841623456789", "(0162) 345-6789"]
)
def test_an_old_number_is_recognised_in_any_spelling(value: str) -> None:
    with translation.override("en"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(value, field="to")
    assert str(caught.value) == (
        f"to: {value} is an old 11-digit number: since 2018 it is 032 345 6789."
    )


def test_an_old_number_is_refused_in_vietnamese() -> None:
    with translation.override("vi"), pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone("0162 345 6789")
    assert str(caught.value.message) == (
        "0162 345 6789 là số điện thoại 11 số cũ: từ năm 2018 đã đổi thành 032 345 6789."
    )


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("0901888484", "0901888484"),  # a mobile
        ("0323456789", "0323456789"),  # a mobile on a post-2018 prefix
        ("+84 70 345 6789", "0703456789"),
        ("02871002454", "02871002454"),  # a Ho Chi Minh City landline
        ("024 3765 4321", "02437654321"),  # a Hanoi landline
    ],
)
def test_ordinary_mobiles_and_landlines_still_pass(value: str, normalised: str) -> None:
    assert normalize_phone(value) == normalised
