"""Money in đồng as a reader expects it: ``1.250.000 ₫`` in Vietnamese, ``1,250,000 ₫`` in English.

Whole đồng, rounded half up, grouped by thousands with the language's THOUSAND_SEPARATOR.
Not ``django.utils.formats.number_format``: Django's Vietnamese formats set no
NUMBER_GROUPING, so it would print ``1250000`` in Vietnamese.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import translation
from django.utils.formats import get_format

CURRENCY = "₫"
_DONG = Decimal(1)


def whole_dong(amount: Decimal | int | float | str) -> Decimal:
    """Round an amount to whole đồng, half up (1,5 → 2; -1,5 → -2)."""
    return Decimal(str(amount)).quantize(_DONG, rounding=ROUND_HALF_UP)


def format_dong(amount: Decimal | int | float | str | None, language: str | None = None) -> str:
    """Format an amount of đồng for `language` (the active one by default); None gives ""."""
    if amount is None:
        return ""
    value = whole_dong(amount)
    language = language or translation.get_language() or "en"
    separator = str(get_format("THOUSAND_SEPARATOR", lang=language, use_l10n=True))
    digits = f"{abs(value):f}"
    groups = [digits[max(i - 3, 0) : i] for i in range(len(digits), 0, -3)][::-1]
    sign = "-" if value < 0 else ""
    return f"{sign}{separator.join(groups)} {CURRENCY}"
