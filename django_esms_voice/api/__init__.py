"""An optional DRF API for calls: create one or a batch, list with filters, retrieve, cancel.

Include it with ``path("api/esms-voice/", include("django_esms_voice.api_urls"))``. The views
are thin: checking and creating go through ``services``, the rules of a call's options through
``options``. Subclass ``VoiceCallViewSet`` (views.py) to change its permissions or throttles.
"""

from .permissions import VoiceCallPermission
from .throttling import PlaceCallsThrottle
from .views import VoiceCallViewSet

__all__ = ["PlaceCallsThrottle", "VoiceCallPermission", "VoiceCallViewSet"]
