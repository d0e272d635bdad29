"""Import numbers into the suppression list from a file (preview, confirm once), and export it.

The preview lists every bad row with its line and why; nothing is added until the operator
confirms. What was checked travels in a signed payload bound to the user and to a nonce spent
once (idempotency.claim), as call-many does: a confirmation posted twice adds nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..models import Suppression, SuppressionReason
from ..services import idempotency
from ..services.suppression_export import export_filename, stream_suppressions_csv
from .confirmation import load_payload, new_nonce
from .forms import read_rows
from .rows import MAX_ROWS, Row
from .summaries import SHOWN_PER_GROUP

IMPORT_SALT = "django_esms_voice.admin.suppression_import"
#: The idempotency scope of the confirmation: each payload carries a nonce used once.
IMPORT_SCOPE = "admin.suppression_import"


class SuppressionImportForm(forms.Form):
    """Numbers to list, pasted or in a CSV or Excel file, with the reason they share."""

    numbers = forms.CharField(
        label=capfirst(_("numbers")),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 40, "placeholder": "0901888484"}),
        help_text=_("One number per line."),
    )
    csv_file = forms.FileField(
        label=capfirst(_("or a CSV or Excel file")),
        required=False,
        help_text=_(
            "The phone number in the first column, with or without a header row: CSV in UTF-8, "
            "or Excel (.xlsx, its first sheet). A number Excel shows without its leading 0 "
            "(901888484) is read as 0901888484."
        ),
    )
    reason = forms.ChoiceField(
        label=capfirst(_("reason")),
        choices=SuppressionReason.choices,
        initial=SuppressionReason.OPTED_OUT,
    )
    source = forms.CharField(
        label=capfirst(_("source")),
        max_length=200,
        required=False,
        help_text=_("Where these numbers came from. Left empty, the file's name."),
    )

    def clean(self) -> dict[str, Any]:
        """Read the rows from the pasted text or the file (one of them)."""
        cleaned = super().clean() or {}
        upload = cleaned.get("csv_file")
        rows = read_rows(self, cleaned)
        if rows is None:
            return cleaned
        cleaned["rows"] = rows
        cleaned["source"] = (cleaned.get("source") or "").strip() or (
            upload.name if upload else "admin"
        )
        return cleaned


def import_numbers(modeladmin: admin.ModelAdmin[Suppression], request: HttpRequest) -> HttpResponse:
    """Upload or paste numbers, see the bad rows and why, confirm: the new ones are listed."""
    if not modeladmin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST" and "payload" in request.POST:
        return _confirmed(modeladmin, request)
    if request.method == "POST":
        form = SuppressionImportForm(request.POST, request.FILES)
        if form.is_valid():
            return _preview(modeladmin, request, form)
    else:
        form = SuppressionImportForm()
    return _page(modeladmin, request, "esms_voice/admin/suppression_import.html", {"form": form})


def _page(
    modeladmin: admin.ModelAdmin[Suppression],
    request: HttpRequest,
    template: str,
    extra: Mapping[str, Any],
) -> TemplateResponse:
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Import numbers"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "media": modeladmin.media,
        "max_rows": MAX_ROWS,
        **extra,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)


def _preview(
    modeladmin: admin.ModelAdmin[Suppression],
    request: HttpRequest,
    form: SuppressionImportForm,
) -> TemplateResponse:
    """Show what will be added, what is listed already and each bad row; nothing is saved."""
    rows: list[Row] = form.cleaned_data["rows"]
    report = services.check_suppressions((row.line, row.phone) for row in rows)
    reason, source = form.cleaned_data["reason"], form.cleaned_data["source"]
    count = len(report.new)
    payload = ""
    if count:
        payload = signing.dumps(
            {
                "user": request.user.pk,
                "nonce": new_nonce(),
                "reason": reason,
                "source": source,
                "phones": [number for _line, number in report.new],
            },
            salt=IMPORT_SALT,
            compress=True,
        )
    shown = SHOWN_PER_GROUP * 10
    notes = [row for row in rows if row.note]
    return _page(
        modeladmin,
        request,
        "esms_voice/admin/suppression_import_preview.html",
        {
            "new": report.new[:shown],
            "more_new": max(count - shown, 0),
            "problems": report.problems,
            "reason_label": SuppressionReason(reason).label,
            "source": source,
            "payload": payload,
            "notes": notes[:SHOWN_PER_GROUP],
            "more_notes": max(len(notes) - SHOWN_PER_GROUP, 0),
            "summary": ngettext(
                "%(count)d number will be added to the suppression list (%(reason)s).",
                "%(count)d numbers will be added to the suppression list (%(reason)s).",
                count,
            )
            % {"count": count, "reason": SuppressionReason(reason).label},
            "listed_summary": ngettext(
                "%(count)d number is on the list already and is left as it is.",
                "%(count)d numbers are on the list already and are left as they are.",
                len(report.already_listed),
            )
            % {"count": len(report.already_listed)},
            "has_listed": bool(report.already_listed),
            "invalid_summary": ngettext(
                "%(count)d row is invalid and will be skipped:",
                "%(count)d rows are invalid and will be skipped:",
                len(report.problems),
            )
            % {"count": len(report.problems)},
            "confirm_label": ngettext("Add %(count)d number", "Add %(count)d numbers", count)
            % {"count": count},
        },
    )


def _confirmed(modeladmin: admin.ModelAdmin[Suppression], request: HttpRequest) -> HttpResponse:
    """List the confirmed numbers, once: a confirmation posted again adds nothing."""
    data = load_payload(request.POST["payload"], IMPORT_SALT, request)
    if data is None:
        modeladmin.message_user(
            request,
            gettext("This preview has expired or is not yours: check the numbers again."),
            messages.ERROR,
        )
        return HttpResponseRedirect(request.path)
    phones: list[str] = data["phones"]
    with transaction.atomic():
        first, fresh = idempotency.claim(IMPORT_SCOPE, data["nonce"], call_count=len(phones))
        if fresh:
            report = services.import_suppressions(
                phones, reason=data["reason"], source=data["source"], added_by=request.user
            )
    url = reverse("admin:esms_voice_suppression_changelist", current_app=modeladmin.admin_site.name)
    if not fresh:
        modeladmin.message_user(
            request,
            ngettext(
                "These numbers were already imported (%(count)d number). Nothing new was added.",
                "These numbers were already imported (%(count)d numbers). Nothing new was added.",
                first.call_count,
            )
            % {"count": first.call_count},
            messages.WARNING,
        )
        return HttpResponseRedirect(url)
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d number added to the suppression list.",
            "%(count)d numbers added to the suppression list.",
            report.created,
        )
        % {"count": report.created},
        messages.SUCCESS,
    )
    return HttpResponseRedirect(url)


def _in_language(pieces: Iterator[str], language: str | None) -> Iterator[str]:
    """Stream pieces in the request's language: they are made after the view has returned."""
    with translation.override(language):
        yield from pieces


def export_list(
    modeladmin: admin.ModelAdmin[Suppression], request: HttpRequest
) -> StreamingHttpResponse:
    """The whole list as CSV, streamed, for a user who may see it."""
    if not modeladmin.has_view_permission(request):
        raise PermissionDenied
    response = StreamingHttpResponse(
        _in_language(stream_suppressions_csv(), translation.get_language()),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, export_filename())
    return response
