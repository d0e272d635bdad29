"""Who may do what in the calls API: the app's model permissions, per action."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from ..models import VoiceCall


class VoiceCallPermission(BasePermission):
    """Model permissions per action: reading needs view, creating needs place (spends money)."""

    #: The codenames (in the esms_voice app) each action needs.
    action_permissions: dict[str, tuple[str, ...]] = {
        "list": ("view_voicecall",),
        "retrieve": ("view_voicecall",),
        "create": ("place_voicecall",),
        "cancel": ("change_voicecall",),
    }

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Let authenticated users with the action's permissions through."""
        user = request.user
        if not user or not user.is_authenticated:
            return False
        app_label = VoiceCall._meta.app_label
        needed = self.action_permissions.get(getattr(view, "action", None) or "", ())
        return user.has_perms([f"{app_label}.{codename}" for codename in needed])
