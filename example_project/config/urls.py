"""URLs of the example project: the admin, and the endpoint eSMS sends call results to."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("esms-voice/", include("django_esms_voice.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
