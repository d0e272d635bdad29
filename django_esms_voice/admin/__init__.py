"""The admin: voice calls, callback events, campaigns, the suppression list, the host action.

Host projects add ``call_action()`` to their own model admins; the mixin offers it only to
staff who may place calls::

    from django_esms_voice.admin import VoiceCallActionMixin, call_action

    class CustomerAdmin(VoiceCallActionMixin, admin.ModelAdmin):
        actions = [call_action(phone_field="phone", variables=["name", "amount"])]
"""

from django.contrib import admin

from ..models import CallbackEvent, Campaign, Suppression, VoiceCall
from . import checks  # noqa: F401  (registers the host-admin check)
from .calls import VoiceCallAdmin
from .campaigns import CampaignAdmin
from .events import CallbackEventAdmin, CallbackEventInline
from .host_action import call_action
from .mixins import VoiceCallActionMixin
from .suppressions import SuppressionAdmin

__all__ = [
    "CallbackEventAdmin",
    "CallbackEventInline",
    "CampaignAdmin",
    "SuppressionAdmin",
    "VoiceCallActionMixin",
    "VoiceCallAdmin",
    "call_action",
]

admin.site.register(VoiceCall, VoiceCallAdmin)
admin.site.register(CallbackEvent, CallbackEventAdmin)
admin.site.register(Campaign, CampaignAdmin)
admin.site.register(Suppression, SuppressionAdmin)
