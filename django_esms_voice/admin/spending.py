"""What every page that places calls shows before money is spent: count, balance, estimate.

``spending_context(count, kind=...)`` is the one helper the confirmation pages call; the
template ``esms_voice/admin/_spending.html`` is the one include that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext

from ..money import format_dong
from ..services.estimates import BalanceReading, Estimate, current_balance, estimate_cost


@dataclass(frozen=True)
class Spending:
    """The figures a confirmation page shows, read once per page."""

    count: int
    balance: BalanceReading
    estimate: Estimate

    @property
    def balance_shown(self) -> str:
        return format_dong(self.balance.balance)

    @property
    def expected_shown(self) -> str:
        return format_dong(self.estimate.expected)

    @property
    def range_shown(self) -> str:
        """Say "between 500 ₫ and 8.000 ₫" when the outcomes' prices differ, else nothing."""
        low, high = self.estimate.low, self.estimate.high
        if low is None or high is None or low == high:
            return ""
        return gettext("between %(low)s and %(high)s") % {
            "low": format_dong(low),
            "high": format_dong(high),
        }

    @property
    def basis(self) -> str:
        """How the estimate was made, in one sentence."""
        estimate = self.estimate
        if estimate.answer_rate is None:
            return ""
        parts = [
            ngettext(
                "From the last %(count)d priced call: %(rate)s%% answered",
                "From the last %(count)d priced calls: %(rate)s%% answered",
                estimate.sample,
            )
            % {
                "count": estimate.sample,
                "rate": number_format(estimate.answer_rate * 100, decimal_pos=0),
            }
        ]
        if estimate.per_answered is not None:
            price = format_dong(estimate.per_answered)
            parts.append(gettext("%(price)s per answered call") % {"price": price})
        if estimate.per_unanswered is not None:
            price = format_dong(estimate.per_unanswered)
            parts.append(gettext("%(price)s per unanswered call") % {"price": price})
        return ", ".join(parts) + "."

    @property
    def exceeds(self) -> bool:
        """Whether the expected cost is more than the balance."""
        balance, expected = self.balance.balance, self.estimate.expected
        return balance is not None and expected is not None and expected > balance

    @property
    def warning(self) -> str:
        if not self.exceeds:
            return ""
        return gettext(
            "The estimated cost (%(cost)s) is more than the eSMS balance (%(balance)s). Once "
            "the balance runs out, eSMS refuses the calls and placement pauses until the "
            "account is topped up."
        ) % {"cost": self.expected_shown, "balance": self.balance_shown}


def spending(count: int, *, kind: str | None = None) -> Spending:
    """Read the balance and estimate the cost of `count` calls (of `kind`, or any)."""
    return Spending(count, current_balance(), estimate_cost(count, kind=kind))


def spending_context(count: int, *, kind: str | None = None) -> dict[str, Any]:
    """The template context of _spending.html; nothing read when no call will be placed."""
    return {"spending": spending(count, kind=kind) if count else None}
