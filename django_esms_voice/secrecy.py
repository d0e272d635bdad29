"""Secret script values (a one-time password read out): sent once, then wiped, never shown.

The one home of the rule: which calls' variables are secret, what replaces them once eSMS
has the call, and what every surface (admin, API, exports) shows instead of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Case, F, JSONField, Value, When
from django.db.models.expressions import Combinable
from django.utils.translation import gettext_lazy as _

from .conf import voice_settings

#: What a call's secret values become in the row once eSMS has the call (or it cannot go).
WIPED = ["***"]
#: What the admin and the API show in place of secret values, before and after the wipe.
HIDDEN = _("hidden (secret values)")
#: Why a call whose secret values were wiped cannot be sent again.
GONE = _(
    "The script's secret values were wiped when the call went to eSMS or ended; "
    "make a new call with fresh values."
)


def secret_by_default(purpose: str) -> bool:
    """Whether a call of this purpose has secret variables when it does not say (a setting)."""
    return purpose in voice_settings().secret_variable_purposes


def resolve(given: bool | None, purpose: str) -> bool:
    """Return a call's secret_variables: what it was given, else its purpose's default."""
    return secret_by_default(purpose) if given is None else bool(given)


def is_wiped(values: Sequence[Any]) -> bool:
    """Whether the values are the marker: the call can no longer be sent as it was."""
    return list(values) == WIPED


def wipe_expression() -> Combinable:
    """An UPDATE's value for `variables`: the marker where the call's values are secret."""
    marker = Value(WIPED, output_field=JSONField())
    return Case(When(secret_variables=True, then=marker), default=F("variables"))
