"""URLs for the test suite: the admin and the eSMS callback endpoint."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("esms-voice/", include("django_esms_voice.urls")),
]
