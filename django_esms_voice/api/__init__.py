"""An optional DRF API: calls, campaigns, the account pause, the suppression list.

Include it with ``path("api/esms-voice/", include("django_esms_voice.api_urls"))``. The views
are thin: checking, creating, pausing and resuming go through ``services``, the rules of a
call's options through ``options``. Subclass ``VoiceCallViewSet`` (views.py) or
``CampaignViewSet`` (campaign_views.py) to change their permissions or throttles.
"""

from .campaign_views import AccountViewSet, CampaignViewSet
from .permissions import (
    AccountPermission,
    CampaignPermission,
    SuppressionPermission,
    VoiceCallPermission,
)
from .suppression_views import SuppressionViewSet
from .throttling import PlaceCallsThrottle
from .views import VoiceCallViewSet

__all__ = [
    "AccountPermission",
    "AccountViewSet",
    "CampaignPermission",
    "CampaignViewSet",
    "PlaceCallsThrottle",
    "SuppressionPermission",
    "SuppressionViewSet",
    "VoiceCallPermission",
    "VoiceCallViewSet",
]
