"""The API under i18n_patterns, as a host using LocaleMiddleware with language prefixes has it."""

from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path

urlpatterns = i18n_patterns(path("api/esms-voice/", include("django_esms_voice.api_urls")))
