"""The API tests' URLs: the callbacks, and the API as an optional include under a prefix."""

from django.urls import include, path

urlpatterns = [
    path("esms-voice/", include("django_esms_voice.urls")),
    path("api/esms-voice/", include("django_esms_voice.api_urls")),
]
