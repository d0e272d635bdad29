"""URLs of the example project: the admin, the endpoint eSMS sends call results to, the API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # The callbacks: each call's signed URL lives under this prefix.
    path("esms-voice/", include("django_esms_voice.urls")),
    # The optional calls API (create, list, retrieve, cancel); browsable when logged in.
    path("api/esms-voice/", include("django_esms_voice.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
