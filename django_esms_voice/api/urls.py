"""URLs of the optional calls API: include them under a prefix of your choice.

    path("api/esms-voice/", include("django_esms_voice.api_urls"))

gives ``calls/`` (list, create), ``calls/<uuid>/`` (retrieve), ``calls/<uuid>/cancel/``,
``campaigns/`` (list), ``campaigns/<id>/`` (retrieve) with ``pause/``, ``resume/``, ``cancel/``,
``account/`` and ``account/resume/``, ``suppressions/`` (list, add) and
``suppressions/<phone>/`` (remove), and, when drf-spectacular is installed (the ``api`` extra),
``schema/``: the OpenAPI schema of these endpoints only. ``django_esms_voice.api_urls`` is this
module under its documented name.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from .campaign_views import AccountViewSet, CampaignViewSet
from .language import RequestLanguageMixin
from .schema import SPECTACULAR
from .suppression_views import SuppressionViewSet
from .views import VoiceCallViewSet

app_name = "esms_voice_api"

router = SimpleRouter()
router.register("calls", VoiceCallViewSet, basename="call")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("account", AccountViewSet, basename="account")
router.register("suppressions", SuppressionViewSet, basename="suppression")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]


#: The viewsets of this API: what the schema describes.
VIEWSETS = (VoiceCallViewSet, CampaignViewSet, AccountViewSet, SuppressionViewSet)


def only_this_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: keep this API's endpoints only."""
    return [e for e in endpoints if issubclass(getattr(e[3], "cls", object), VIEWSETS)]


if SPECTACULAR:
    from drf_spectacular.views import SpectacularAPIView

    class VoiceCallSchemaView(RequestLanguageMixin, SpectacularAPIView):
        """The OpenAPI schema of the calls API alone, at the prefix the project chose."""

        custom_settings: dict[str, Any] | None = {
            "TITLE": "eSMS voice calls API",
            "DESCRIPTION": "Place automated voice calls through eSMS.vn and follow their results.",
            "PREPROCESSING_HOOKS": ["django_esms_voice.api.urls.only_this_api"],
        }

    urlpatterns.append(path("schema/", VoiceCallSchemaView.as_view(), name="schema"))
