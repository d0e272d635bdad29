"""The mixin a host ModelAdmin adds to offer call_action() only to staff who may place calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

from .host_action import spec_of
from .permissions import can_create_calls

# A ModelAdmin for type checkers (django-stubs) only; a plain mixin at run time.
if TYPE_CHECKING:
    from django.contrib import admin

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class VoiceCallActionMixin(_ModelAdmin):
    """Hide call_action()'s actions from staff without the permissions to place voice calls.

    ``class CustomerAdmin(VoiceCallActionMixin, admin.ModelAdmin)``. Without it the action is
    offered to everyone who sees the list and refuses those who may not place calls.
    """

    def has_esms_voice_call_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run call_action() (and retry calls): place and add voice calls."""
        return can_create_calls(request.user)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Leave call_action()'s actions out for a user has_esms_voice_call_permission refuses."""
        # Django 6.1 passes where the actions are shown and deprecates overrides without the
        # parameter; Django 5.2 and 6.0 know no such parameter.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        if self.has_esms_voice_call_permission(request):
            return actions
        return {
            name: entry
            for name, entry in actions.items()
            if entry is None or spec_of(_action_function(entry)) is None
        }


def _action_function(entry: Any) -> Any:
    """Return an action's function: Django 6.1's Action.func, or the (func, name, label) tuple's."""
    return entry.func if hasattr(entry, "func") else entry[0]
