"""The admin's system check: a host admin that offers call_action() without the mixin."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.sites import all_sites
from django.core import checks

from .host_action import spec_of
from .mixins import VoiceCallActionMixin


@checks.register(checks.Tags.admin)
def check_host_admins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn about each registered ModelAdmin that offers call_action() to every staff member."""
    messages: list[checks.CheckMessage] = []
    for site in all_sites:
        # AdminSite has no public way to list its ModelAdmins; Django's own checks read this.
        for modeladmin in site._registry.values():
            if isinstance(modeladmin, VoiceCallActionMixin):
                continue
            if not any(spec_of(action) for action in modeladmin.actions or ()):
                continue
            name = type(modeladmin).__qualname__
            messages.append(
                checks.Warning(
                    f"{name} offers call_action() to every staff member who sees its list; "
                    "those who may not place voice calls are refused only when they run it.",
                    hint=(
                        "Add django_esms_voice.admin.VoiceCallActionMixin first in its bases "
                        f"(class {name}(VoiceCallActionMixin, admin.ModelAdmin)) to offer the "
                        "action only to staff with the esms_voice.place_voicecall and "
                        "esms_voice.add_voicecall permissions."
                    ),
                    obj=type(modeladmin),
                    id="esms_voice.W005",
                )
            )
    return messages
