"""The add form's confirmation: Save shows what the call costs; the call is created once confirmed.

The confirmation carries the form's data in a signed payload bound to the user and to a
single-use nonce, as call-many's does: a replayed confirmation creates nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib import admin, messages
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext

from .. import services
from ..esms.phone import normalize_phone
from ..exceptions import EsmsInputError
from ..models import IdempotencyKey, VoiceCall
from ..services import idempotency
from .confirmation import load_payload, new_nonce
from .forms import PlaceCallForm
from .spending import spending_context

PLACE_CALL_SALT = "django_esms_voice.admin.place_call"
#: The idempotency scope of the add form's confirmation: each payload's nonce is used once.
PLACE_CALL_SCOPE = "admin.place_call"
#: The confirmation page's field that holds the signed form data.
PAYLOAD_FIELD = "payload"
#: What the add form posts besides the call's values (the CSRF token, which button).
_NOT_VALUES = ("csrfmiddlewaretoken", "_save", "_continue", "_addanother")


def _shown(value: Any, field: Any) -> str:
    """A value of the add form as the operator typed or chose it."""
    choices = dict(getattr(field, "choices", None) or ())
    if isinstance(value, list):
        return " | ".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return str(formats.localize(timezone.localtime(value)))
    return str(choices.get(value, choices.get(str(value), value)))


def _bound_form(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest, data: QueryDict
) -> PlaceCallForm:
    """The admin's add form (a PlaceCallForm, with the admin's widgets) bound to this data."""
    return cast(PlaceCallForm, modeladmin.get_form(request)(data))


def confirm_call(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest
) -> TemplateResponse | None:
    """Show the confirmation of a valid add form; None when it is invalid (the form shows why)."""
    form = _bound_form(modeladmin, request, request.POST)
    if not form.is_valid():
        return None
    values = {**form.values(), "phone": normalize_phone(form.values()["phone"])}  # as eSMS gets it
    data = {key: request.POST.getlist(key) for key in request.POST if key not in _NOT_VALUES}
    payload = signing.dumps(
        {
            "user": request.user.pk,
            "nonce": new_nonce(),
            "data": data,
            "another": "_addanother" in request.POST,
        },
        salt=PLACE_CALL_SALT,
        compress=True,
    )
    details = [
        (capfirst(form.fields[name].label or name), _shown(value, form.fields[name]))
        for name, value in values.items()
        if value not in (None, "", [])
    ]
    summary = (
        gettext("A call to %(phone)s will be placed for %(time)s; eSMS charges for it.")
        if values.get("send_at")
        else gettext("A call to %(phone)s will be placed now; eSMS charges for it.")
    ) % {"phone": values["phone"], "time": _shown(values.get("send_at"), None)}
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Place this call?"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media,
        "summary": summary,
        "details": details,
        "payload": payload,
        "payload_field": PAYLOAD_FIELD,
        "confirm_label": gettext("Yes, place the call"),
        **spending_context(1, kind=values["kind"]),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "esms_voice/admin/place_call_confirm.html", context)


def _call_url(modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest, pk: Any) -> str:
    """The call's page, or the list when the user may not see it."""
    site = modeladmin.admin_site.name
    if pk is not None and modeladmin.has_view_permission(request):
        return reverse("admin:esms_voice_voicecall_change", args=[pk], current_app=site)
    return reverse("admin:esms_voice_voicecall_changelist", current_app=site)


def _add_url(modeladmin: admin.ModelAdmin[VoiceCall]) -> str:
    return reverse("admin:esms_voice_voicecall_add", current_app=modeladmin.admin_site.name)


def _refused(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest, why: str
) -> HttpResponseRedirect:
    """Say why the confirmed call was not placed, back on the add form."""
    modeladmin.message_user(
        request, gettext("The call was not placed: %(why)s") % {"why": why}, messages.ERROR
    )
    return HttpResponseRedirect(_add_url(modeladmin))


def place_confirmed(modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest) -> HttpResponse:
    """Create the confirmed call once; a replayed confirmation creates nothing."""
    data = load_payload(request.POST[PAYLOAD_FIELD], PLACE_CALL_SALT, request)
    if data is None:
        modeladmin.message_user(
            request,
            gettext("This confirmation has expired or is not yours: fill in the call again."),
            messages.ERROR,
        )
        return HttpResponseRedirect(_add_url(modeladmin))
    posted = QueryDict(mutable=True)
    for key, values in data["data"].items():
        posted.setlist(key, values)
    form = _bound_form(modeladmin, request, posted)
    if not form.is_valid():  # e.g. its schedule has passed while the page was open
        problems = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _refused(modeladmin, request, problems)
    try:
        with transaction.atomic():
            first, fresh = idempotency.claim(PLACE_CALL_SCOPE, data["nonce"], call_count=1)
            if fresh:
                call = services.create_call(created_by=request.user, **form.values())
                IdempotencyKey.objects.filter(pk=first.pk).update(response_body={"call": call.pk})
    except EsmsInputError as exc:  # refused at creation, e.g. by a policy
        return _refused(modeladmin, request, str(exc.message))
    if not fresh:
        placed = (first.response_body or {}).get("call")
        modeladmin.message_user(
            request,
            gettext("This call was already placed. No new call was placed."),
            messages.WARNING,
        )
        return HttpResponseRedirect(_call_url(modeladmin, request, placed))
    modeladmin.log_addition(request, call, [{"added": {}}])
    modeladmin.message_user(
        request,
        gettext("The call to %(phone)s is queued.") % {"phone": call.phone},
        messages.SUCCESS,
    )
    if data.get("another"):
        return HttpResponseRedirect(_add_url(modeladmin))
    return HttpResponseRedirect(_call_url(modeladmin, request, call.pk))
