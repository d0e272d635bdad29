"""Vietnamese phone numbers: one validation and normalisation helper for the whole app."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from phonenumbers import NumberParseException, ValidationResult

from ..exceptions import InvalidPhoneNumber

VIETNAM_REGION = "VN"
VIETNAM_COUNTRY_CODE = 84

TOO_SHORT = gettext_lazy("it is too short")
TOO_LONG = gettext_lazy("it is too long")
BAD_COUNTRY_CODE = gettext_lazy("the country code is not valid")

_PARSE_REASONS: dict[Any, Promise] = {
    NumberParseException.INVALID_COUNTRY_CODE: BAD_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: gettext_lazy("it is not a phone number"),
    NumberParseException.TOO_SHORT_AFTER_IDD: TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: TOO_SHORT,
    NumberParseException.TOO_LONG: TOO_LONG,
}

_LENGTH_REASONS: dict[Any, Promise] = {
    ValidationResult.TOO_SHORT: TOO_SHORT,
    ValidationResult.TOO_LONG: TOO_LONG,
    ValidationResult.INVALID_LENGTH: gettext_lazy("it has the wrong number of digits"),
    ValidationResult.INVALID_COUNTRY_CODE: BAD_COUNTRY_CODE,
}
UNREADABLE = gettext_lazy("it cannot be read")
UNKNOWN_PREFIX = gettext_lazy("no Vietnamese network uses this prefix")
HAS_LETTERS = gettext_lazy("it contains letters")
HAS_EXTENSION = gettext_lazy("it has an extension, which an automated call cannot dial")

#: The first digits of premium-rate (1900) and toll-free (1800) service lines.
SERVICE_PREFIXES = ("1900", "1800")

#: The 2018 renumbering of 11-digit mobiles: old prefix after the 0 -> new prefix after the 0.
OLD_MOBILE_PREFIXES = {
    "162": "32",
    "163": "33",
    "164": "34",
    "165": "35",
    "166": "36",
    "167": "37",
    "168": "38",
    "169": "39",
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    "186": "56",
    "188": "58",
    "199": "59",
}


def _refuse(value: str, reason: str | Promise, field: str) -> InvalidPhoneNumber:
    """Build the error for a refused number, translated, naming the number and the reason."""
    message = _("%(value)s is not a valid Vietnamese phone number: %(reason)s.") % {
        "value": value,
        "reason": reason,
    }
    return InvalidPhoneNumber(message, field=field, value=value)


def _renumbered(national_number: str) -> str | None:
    """Return an old 11-digit mobile's number since 2018, spaced (032 345 6789), else None."""
    new = OLD_MOBILE_PREFIXES.get(national_number[:3])
    if new is None or len(national_number) != 10:
        return None
    rest = national_number[3:]
    return f"0{new} {rest[:3]} {rest[3:]}"


def normalize_phone(value: object, *, field: str = "phone", service_lines: bool = False) -> str:
    """Return a Vietnamese number in the national digits eSMS expects (0901888484), or raise.

    1900/1800 service lines are refused unless service_lines: they cannot take an automated
    call, but a listener may be forwarded to one.
    """
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidPhoneNumber(_("A phone number must be text."), field=field, value=repr(value))
    text = str(value).strip()
    if not text:
        raise InvalidPhoneNumber(_("A phone number is required."), field=field, value=text)
    shown = text if len(text) <= 40 else text[:40] + "…"
    # phonenumbers reads letters as keypad digits (0901abcdef -> 0901222333): a typo would
    # ring someone else, so letters are refused.
    if any(ch.isalpha() for ch in text):
        raise _refuse(shown, HAS_LETTERS, field)
    try:
        number = phonenumbers.parse(text, VIETNAM_REGION)
    except NumberParseException as exc:
        raise _refuse(shown, _PARSE_REASONS.get(exc.error_type, UNREADABLE), field) from None
    if number.country_code != VIETNAM_COUNTRY_CODE:
        reason = _("it belongs to country code +%(code)s, not Vietnam (+84)") % {
            "code": number.country_code
        }
        raise _refuse(shown, reason, field)
    # "0901888484#5" parses with extension 5, which the national format would glue on.
    if number.extension:
        raise _refuse(shown, HAS_EXTENSION, field)
    national_number = str(number.national_number)
    # Refused with a hint, never converted: the person who typed it should fix the source.
    renumbered = _renumbered(national_number)
    if renumbered is not None:
        message = _("%(value)s is an old 11-digit number: since 2018 it is %(new)s.") % {
            "value": shown,
            "new": renumbered,
        }
        raise InvalidPhoneNumber(message, field=field, value=shown)
    if not service_lines and national_number.startswith(SERVICE_PREFIXES):
        message = _(
            "%(value)s is a service line: 1900 and 1800 numbers cannot receive automated calls."
        ) % {"value": shown}
        raise InvalidPhoneNumber(message, field=field, value=shown)
    if not phonenumbers.is_valid_number(number):
        length = phonenumbers.is_possible_number_with_reason(number)
        raise _refuse(shown, _LENGTH_REASONS.get(length, UNKNOWN_PREFIX), field)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit())


#: How many digits a Vietnamese number has after its leading 0: 9 (mobile), 10 (landline).
NATIONAL_LENGTHS = frozenset({9, 10})


def restore_leading_zero(value: int | str) -> str | None:
    """Return a number a spreadsheet kept as a number (901888484) with its leading 0 again.

    Excel turns 0901888484 into the number 901888484. None when the value is not such a
    number: it has a leading 0 already, another length (84901888484), or is not Vietnamese.
    """
    digits = str(value)
    if not digits.isdigit() or digits.startswith("0") or len(digits) not in NATIONAL_LENGTHS:
        return None
    try:
        normalize_phone(f"0{digits}")
    except InvalidPhoneNumber:
        return None
    return f"0{digits}"


def repeats(phones: Iterable[str | None]) -> dict[int, int]:
    """Map each position whose number appeared earlier to that first position (None: skipped)."""
    first: dict[str, int] = {}
    repeated: dict[int, int] = {}
    for index, phone in enumerate(phones):
        if phone is None:
            continue
        if phone in first:
            repeated[index] = first[phone]
        else:
            first[phone] = index
    return repeated
