"""The account pause banner on every page of the app, and its "Resume placement" button.

While eSMS refuses calls for a reason of the account (services.account), every admin page of
the app says what happened and what to do. The templates show it through one tag
(``{% esms_voice_account_pause %}``), which reads the open pause in one query per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext

from .. import services
from ..esms.protocol import LOW_BALANCE, describe_code
from ..models import AccountPause
from ..money import format_dong
from ..policies import open_pause
from ..services.account import ADVICE
from .permissions import can_place_calls, can_see_calls

#: The URL name of the resume button's view (registered by VoiceCallAdmin).
RESUME_URL_NAME = "esms_voice_voicecall_resume_placement"
_UNSET = object()


@dataclass(frozen=True)
class Banner:
    """What the banner shows: the pause, what it means, what to do, where to click."""

    pause: AccountPause
    meaning: str | Promise
    advice: str | Promise
    #: The page of the call that met the refusal, when there is one the user may see.
    call_url: str | None
    #: Where "Resume placement" posts; None when the user may not resume.
    resume_url: str | None

    @property
    def checks_balance(self) -> bool:
        """Whether the sweep probes the balance for this pause (a low balance, 103)."""
        return self.pause.code == LOW_BALANCE

    @property
    def balance(self) -> str:
        """The balance the last check saw, in đồng."""
        return format_dong(self.pause.last_balance)


def account_banner(request: HttpRequest) -> Banner | None:
    """Return the banner for this request, or None while placement runs (one query, once)."""
    pause = getattr(request, "_esms_voice_pause", _UNSET)
    if pause is _UNSET:
        pause = open_pause()
        request._esms_voice_pause = pause  # type: ignore[attr-defined]
    if not isinstance(pause, AccountPause):
        return None
    site = getattr(request, "current_app", None) or _site_name(request)
    call_url = None
    if pause.call_id is not None and can_see_calls(request.user):
        call_url = _reverse("esms_voice_voicecall_change", site, pause.call_id)
    resume_url = _reverse(RESUME_URL_NAME, site) if can_place_calls(request.user) else None
    return Banner(
        pause=pause,
        meaning=describe_code(pause.code).description,
        advice=ADVICE.get(pause.code, ""),
        call_url=call_url,
        resume_url=resume_url,
    )


def resume_placement_view(modeladmin: admin.ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """End the account pause (POST, esms_voice.place_voicecall), log it, go back where it was."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not can_place_calls(request.user):
        raise PermissionDenied
    pause = services.resume_placement(user=request.user)
    if pause is None:
        modeladmin.message_user(
            request, gettext("Placement was not paused: nothing to resume."), messages.INFO
        )
    else:
        message = gettext("Placement resumed after eSMS code %(code)s.") % {"code": pause.code}
        modeladmin.log_change(request, pause, message)
        modeladmin.message_user(
            request,
            message + " " + gettext("The calls that were waiting are being placed."),
            messages.SUCCESS,
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse(
            "admin:esms_voice_voicecall_changelist", current_app=modeladmin.admin_site.name
        )
    return HttpResponseRedirect(back)


def _site_name(request: HttpRequest) -> str:
    """The admin site's namespace of the page being shown."""
    match = getattr(request, "resolver_match", None)
    return match.namespace if match is not None and match.namespace else "admin"


def _reverse(name: str, site: str, *args: Any) -> str | None:
    """Reverse an admin URL of the site, None when the site does not register it."""
    try:
        return reverse(f"admin:{name}", args=args, current_app=site)
    except NoReverseMatch:
        return None
