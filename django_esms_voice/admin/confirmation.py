"""Confirmations: a page like Django's delete confirmation, and signed single-use payloads.

A confirmation carries what was checked in a signed payload (django.core.signing), not in the
session, bound to the user who saw it and to a nonce that is spent once (IdempotencyKey).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core import signing
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext

from ..conf import CONFIRMATION_MAX_AGE
from ..models import IdempotencyKey
from .campaign_controls import campaign_url
from .permissions import can_see_calls
from .spending import spending_context
from .summaries import Group

#: How long a preview or an action form may wait for its confirmation.
PAYLOAD_MAX_AGE = CONFIRMATION_MAX_AGE


def confirmation_page(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    *,
    action: str,
    title: str | Promise,
    summary: str,
    count: int,
    eligible: Sequence[Any],
    skipped: Sequence[Group],
    confirm_label: str,
    reasons: Sequence[Any] = (),
) -> TemplateResponse:
    """Render a page like Django's delete confirmation: what will happen, what is skipped."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media,
        "action": action,
        "summary": summary,
        "count": count,
        "eligible": eligible,
        "more_eligible": max(count - len(eligible), 0),
        "skipped": skipped,
        "confirm_label": confirm_label,
        "reasons": reasons,
        "refused_again": sum(r.count for r in reasons if r.refused_again),
        **spending_context(count),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "esms_voice/admin/confirm_action.html", context)


def is_confirmed(request: HttpRequest) -> bool:
    """Whether the operator pressed the confirmation page's "Yes" button."""
    return request.POST.get("post") == "yes"


def new_nonce() -> str:
    """Return the single-use key a confirmation's payload carries."""
    return secrets.token_urlsafe(16)


def load_payload(payload: str, salt: str, request: HttpRequest) -> dict[str, Any] | None:
    """Read a signed payload made for this user, or None when it is forged, old or not theirs."""
    try:
        data = signing.loads(payload, salt=salt, max_age=PAYLOAD_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(data, dict) or data.get("user") != request.user.pk:
        return None
    if not data.get("nonce"):  # made before confirmations were single-use
        return None
    return data


def already_created(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, first: IdempotencyKey
) -> None:
    """Tell the user a confirmation was posted again: nothing new was placed; link its campaign."""
    message = ngettext(
        "These calls were already created: %(count)d call (campaign “%(campaign)s”). "
        "No new call was placed.",
        "These calls were already created: %(count)d calls (campaign “%(campaign)s”). "
        "No new call was placed.",
        first.call_count,
    ) % {"count": first.call_count, "campaign": first.batch}
    url = campaign_url(request, modeladmin.admin_site.name, batch=first.batch)
    if url:
        message = format_html('{} <a href="{}">{}</a>', message, url, gettext("See its campaign."))
    modeladmin.message_user(request, message, messages.WARNING)


def calls_list_url(request: HttpRequest, site_name: str, batch: str) -> str | None:
    """The voice call list filtered on a batch, when the user may see it."""
    if not can_see_calls(request.user):
        return None
    try:
        url = reverse("admin:esms_voice_voicecall_changelist", current_app=site_name)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode({'batch': batch})}"
