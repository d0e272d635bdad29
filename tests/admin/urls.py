"""The admin tests' URLs: the default admin site, and a host project's site using call_action()."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import include, path

from django_esms_voice.admin import VoiceCallActionMixin, VoiceCallAdmin, call_action
from django_esms_voice.models import VoiceCall


class UserAsHostAdmin(VoiceCallActionMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A host project's admin: call the users' phones (last_name), reading first_name."""

    actions = [call_action(phone_field="last_name", variables=["first_name"])]


host_site = admin.AdminSite(name="hostadmin")
host_site.register(User, UserAsHostAdmin)
host_site.register(VoiceCall, VoiceCallAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("host-admin/", host_site.urls),
    path("esms-voice/", include("django_esms_voice.urls")),
]
