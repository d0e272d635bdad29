"""Call many numbers: paste or upload them, see which rows are wrong, confirm, one campaign."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import policies, services
from ..conf import default_purpose
from ..models import CallKind, CampaignSource, VoiceCall
from ..purposes import Purpose
from ..services import idempotency
from .campaign_controls import campaign_url
from .confirmation import already_created, load_payload, new_nonce
from .forms import CallManyForm, dump_options, load_options
from .rows import MAX_ROWS, check_rows
from .spending import spending_context
from .summaries import SHOWN_PER_GROUP

CALL_MANY_SALT = "django_esms_voice.admin.call_many"
#: The idempotency scope of the confirmation: each payload carries a nonce used once.
CALL_MANY_SCOPE = "admin.call_many"


def call_many_view(modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest) -> HttpResponse:
    """Paste numbers or upload a CSV, see which rows are wrong, confirm, get one campaign."""
    if not modeladmin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST" and "payload" in request.POST:
        return _call_many_confirmed(modeladmin, request)
    if request.method == "POST":
        form = CallManyForm(request.POST, request.FILES)
        if form.is_valid():
            return _call_many_preview(modeladmin, request, form)
    else:
        form = CallManyForm()
    return _call_many_page(
        modeladmin,
        request,
        "esms_voice/admin/call_many.html",
        {"form": form, "media": modeladmin.media + form.media},
    )


def _call_many_page(
    modeladmin: admin.ModelAdmin[VoiceCall],
    request: HttpRequest,
    template: str,
    extra: Mapping[str, Any],
) -> TemplateResponse:
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Call many numbers"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "max_rows": MAX_ROWS,
        **extra,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)


def _call_many_preview(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest, form: CallManyForm
) -> TemplateResponse:
    """Show the valid rows and the invalid ones (line and reason); nothing is created yet."""
    options = form.options()
    rows = check_rows(form.cleaned_data["rows"], options)
    valid = [row for row in rows if row.valid]
    invalid = [row for row in rows if not row.valid]
    batch = form.cleaned_data["batch"].strip() or services.new_batch_name("call-many")
    payload = ""
    if valid:
        payload = signing.dumps(
            {
                "user": request.user.pk,
                "nonce": new_nonce(),
                "batch": batch,
                "options": dump_options(options),
                "rows": [[row.fields["phone"], row.fields["variables"]] for row in valid],
            },
            salt=CALL_MANY_SALT,
            compress=True,
        )
    count = len(valid)
    return _call_many_page(
        modeladmin,
        request,
        "esms_voice/admin/call_many_preview.html",
        {
            "valid": valid[: SHOWN_PER_GROUP * 10],
            "more_valid": max(count - SHOWN_PER_GROUP * 10, 0),
            "invalid": invalid,
            "count": count,
            "batch": batch,
            "options": options,
            "kind_label": CallKind(options["kind"]).label,
            "purpose_line": gettext("Purpose: %(purpose)s; %(cap)s.")
            % {
                "purpose": Purpose(options.get("purpose") or default_purpose()).label,
                "cap": policies.describe_cap(
                    options.get("purpose") or default_purpose(), options.get("frequency_cap")
                ),
            },
            "is_template": options["kind"] == CallKind.TEMPLATE,
            "payload": payload,
            **spending_context(count, kind=options["kind"]),
            "notes": [row for row in rows if row.note][:SHOWN_PER_GROUP],
            "more_notes": max(sum(1 for row in rows if row.note) - SHOWN_PER_GROUP, 0),
            "summary": ngettext(
                "%(count)d number will be called in campaign “%(campaign)s”. eSMS charges for it.",
                "%(count)d numbers will be called in campaign “%(campaign)s”. "
                "eSMS charges for each.",
                count,
            )
            % {"count": count, "campaign": batch},
            "invalid_summary": ngettext(
                "%(count)d row is invalid and will be skipped:",
                "%(count)d rows are invalid and will be skipped:",
                len(invalid),
            )
            % {"count": len(invalid)},
            "confirm_label": ngettext("Place %(count)d call", "Place %(count)d calls", count)
            % {"count": count},
        },
    )


def _call_many_confirmed(
    modeladmin: admin.ModelAdmin[VoiceCall], request: HttpRequest
) -> HttpResponse:
    """Create the confirmed rows as one campaign, in bulk."""
    data = load_payload(request.POST["payload"], CALL_MANY_SALT, request)
    if data is None:
        modeladmin.message_user(
            request,
            gettext("This preview has expired or is not yours: check the numbers again."),
            messages.ERROR,
        )
        return HttpResponseRedirect(request.path)
    options = load_options(data["options"])
    template = options["kind"] == CallKind.TEMPLATE
    frequency_cap = options.pop("frequency_cap", None)
    rows = [
        {**options, "phone": phone, "variables": variables if template else []}
        for phone, variables in data["rows"]
    ]
    url = reverse("admin:esms_voice_voicecall_changelist", current_app=modeladmin.admin_site.name)
    try:
        with transaction.atomic():
            first, fresh = idempotency.claim(
                CALL_MANY_SCOPE, data["nonce"], batch=data["batch"], call_count=len(rows)
            )
            if fresh:
                created = services.create_calls(
                    rows,
                    batch=data["batch"],
                    purpose=options.get("purpose"),
                    frequency_cap=frequency_cap,
                    source=CampaignSource.CALL_MANY,
                    created_by=request.user,
                )
    except services.BulkCallError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(request.path)
    if not fresh:
        already_created(modeladmin, request, first)
        site = modeladmin.admin_site.name
        return HttpResponseRedirect(
            campaign_url(request, site, batch=first.batch)
            or f"{url}?{urlencode({'batch': first.batch})}"
        )
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d call queued in campaign “%(campaign)s”.",
            "%(count)d calls queued in campaign “%(campaign)s”.",
            len(created),
        )
        % {"count": len(created), "campaign": data["batch"]},
        messages.SUCCESS,
    )
    campaign = campaign_url(request, modeladmin.admin_site.name, campaign_id=created[0].campaign_id)
    return HttpResponseRedirect(campaign or f"{url}?{urlencode({'batch': data['batch']})}")
