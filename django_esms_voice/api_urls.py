"""The calls API's URLs under their documented name: ``include("django_esms_voice.api_urls")``."""

from .api.urls import app_name as app_name
from .api.urls import urlpatterns as urlpatterns
