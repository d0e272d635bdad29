"""URLs to include in the host project: the callback endpoint eSMS calls."""

from django.urls import path

from .callbacks import CallbackView

app_name = "esms_voice"

callback_view = CallbackView.as_view()

urlpatterns = [
    # <str:…>, not <uuid:…>: a malformed id must reach the view, which refuses it without
    # Django logging the path (the token is in it). The second form takes a URL whose
    # trailing slash was dropped on the way: APPEND_SLASH would answer with a redirect.
    path("callback/<str:call_uuid>/<str:token>/", callback_view, name="callback"),
    path("callback/<str:call_uuid>/<str:token>", callback_view),
]
