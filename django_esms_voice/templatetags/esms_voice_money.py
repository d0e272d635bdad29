"""``{% load esms_voice_money %}``: ``{{ amount|dong }}`` shows đồng in the active language."""

from __future__ import annotations

from decimal import Decimal

from django import template

from ..money import format_dong

register = template.Library()


@register.filter
def dong(amount: Decimal | int | float | str | None) -> str:
    """Format an amount of đồng the way the active language writes it (money.format_dong)."""
    return format_dong(amount)
