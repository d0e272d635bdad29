"""Who may do what in the API: the app's model permissions, per action."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from ..models import VoiceCall


def with_host_defaults(permission: BasePermission) -> list[BasePermission]:
    """The host project's DEFAULT_PERMISSION_CLASSES, then this API's permission."""
    classes: list[type[BasePermission]] = api_settings.DEFAULT_PERMISSION_CLASSES  # type: ignore[assignment]
    return [*(cls() for cls in classes), permission]


class ActionPermission(BasePermission):
    """Let an authenticated user through with every permission the view's action needs."""

    #: The codenames (in the esms_voice app) each action needs; an action not listed needs none.
    action_permissions: dict[str, tuple[str, ...]] = {}

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Let authenticated users with the action's permissions through (superusers have all)."""
        user = request.user
        if not user or not user.is_authenticated:
            return False
        app_label = VoiceCall._meta.app_label
        needed = self.action_permissions.get(getattr(view, "action", None) or "", ())
        return user.has_perms([f"{app_label}.{codename}" for codename in needed])


class VoiceCallPermission(ActionPermission):
    """Model permissions per action: reading needs view, creating needs place (spends money)."""

    action_permissions = {
        "list": ("view_voicecall",),
        "retrieve": ("view_voicecall",),
        "create": ("place_voicecall",),
        "cancel": ("change_voicecall",),
    }


class CampaignPermission(ActionPermission):
    """Reading campaigns needs view_campaign; pausing, resuming, canceling run_campaign."""

    action_permissions = {
        "list": ("view_campaign",),
        "retrieve": ("view_campaign",),
        "pause": ("run_campaign",),
        "resume": ("run_campaign",),
        "cancel": ("run_campaign",),
    }


class AccountPermission(ActionPermission):
    """Reading the account's state needs view_voicecall; resuming placement place_voicecall."""

    action_permissions = {
        "list": ("view_voicecall",),
        "resume": ("place_voicecall",),
    }


class SuppressionPermission(ActionPermission):
    """The suppression list: reading needs view, adding add, removing delete_suppression."""

    action_permissions = {
        "list": ("view_suppression",),
        "create": ("add_suppression",),
        "destroy": ("delete_suppression",),
    }
