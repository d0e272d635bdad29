"""URLs to include in the host project: the callback endpoint eSMS calls."""

from django.urls import path

from .callbacks import CallbackView

app_name = "esms_voice"

urlpatterns = [
    path("callback/<uuid:call_uuid>/<str:token>/", CallbackView.as_view(), name="callback"),
]
