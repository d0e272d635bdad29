"""URLs of the optional calls API: include them under a prefix of your choice.

    path("api/esms-voice/", include("django_esms_voice.api_urls"))

gives ``calls/`` (list, create), ``calls/<uuid>/`` (retrieve), ``calls/<uuid>/cancel/``, and,
when drf-spectacular is installed (the ``api`` extra), ``schema/``: the OpenAPI schema of these
endpoints only. ``django_esms_voice.api_urls`` is this module under its documented name.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from .schema import SPECTACULAR
from .views import VoiceCallViewSet

app_name = "esms_voice_api"

router = SimpleRouter()
router.register("calls", VoiceCallViewSet, basename="call")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]


def only_this_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: keep the calls API's endpoints only."""
    return [e for e in endpoints if issubclass(getattr(e[3], "cls", object), VoiceCallViewSet)]


if SPECTACULAR:
    from drf_spectacular.views import SpectacularAPIView

    class VoiceCallSchemaView(SpectacularAPIView):
        """The OpenAPI schema of the calls API alone, at the prefix the project chose."""

        custom_settings: dict[str, Any] | None = {
            "TITLE": "eSMS voice calls API",
            "DESCRIPTION": "Place automated voice calls through eSMS.vn and follow their results.",
            "PREPROCESSING_HOOKS": ["django_esms_voice.api.urls.only_this_api"],
        }

    urlpatterns.append(path("schema/", VoiceCallSchemaView.as_view(), name="schema"))
