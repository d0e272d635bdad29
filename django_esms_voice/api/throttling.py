"""The API's limit on requests that spend eSMS credit, per user."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from ..conf import API_THROTTLE_RATE

#: The actions that spend eSMS credit: throttled, and idempotent with an Idempotency-Key.
SPENDING_ACTIONS = frozenset({"create"})


class PlaceCallsThrottle(ScopedRateThrottle):
    """Limit each user's requests that spend credit; API_THROTTLE_RATE unless the host sets one."""

    scope_attr = "place_throttle_scope"

    def get_rate(self) -> str | None:
        """The host's rate for the scope (None: unlimited), else the app's default."""
        # Read now: SimpleRateThrottle.THROTTLE_RATES is read once, when DRF is imported.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates.get(str(self.scope), API_THROTTLE_RATE)
