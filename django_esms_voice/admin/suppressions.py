"""The suppression list: numbers never called; add one, import a file, export, delete.

An entry is a record of why a number is not called: it is added or deleted, never edited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from ..esms.phone import normalize_phone
from ..exceptions import InvalidPhoneNumber
from ..models import Suppression
from .suppression_import import export_list, import_numbers

# The admin and form classes are generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _SuppressionAdmin = admin.ModelAdmin[Suppression]
    _SuppressionForm = forms.ModelForm[Suppression]
else:
    _SuppressionAdmin = admin.ModelAdmin
    _SuppressionForm = forms.ModelForm

#: The source of an entry added in the admin's form without one.
ADMIN_SOURCE = "admin"


class SuppressionForm(_SuppressionForm):
    """The add form: the number is normalised first, so a listed number in any spelling is found."""

    class Meta:
        model = Suppression
        fields = ("phone", "reason", "source")

    def clean_phone(self) -> str:
        """Normalise the number (its uniqueness is checked on the normalised one)."""
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc.message), code="invalid") from None


class SuppressionAdmin(_SuppressionAdmin):
    """The suppression list: who is never called, why, from where, added by whom and when."""

    form = SuppressionForm
    change_list_template = "esms_voice/admin/suppression_list.html"
    list_display = ("phone", "reason", "source", "added_by", "created_at")
    list_filter = ("reason", ("created_at", admin.DateFieldListFilter))
    search_fields = ("phone",)
    search_help_text = _("A phone number, in any spelling: 0901888484, +84 90 188 8484.")
    list_select_related = ("added_by",)
    show_facets = admin.ShowFacets.NEVER
    fields = ("phone", "reason", "source")
    readonly_fields = ("phone", "reason", "source", "added_by", "created_at")

    class Media:
        css = {"all": ("esms_voice/admin.css",)}

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """An entry is never edited: delete it and add it again."""
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        """Match a number exactly, in any usual spelling; anything else matches nothing."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(Q(phone=normalize_phone(term))), False
        except InvalidPhoneNumber:
            return queryset.none(), False

    def save_model(self, request: HttpRequest, obj: Suppression, form: Any, change: bool) -> None:
        """Record who added the entry; an entry typed in here comes from "admin"."""
        if not change:
            obj.added_by = request.user  # type: ignore[assignment]
            obj.source = obj.source.strip() or ADMIN_SOURCE
        super().save_model(request, obj, form, change)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_import": self.has_add_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import numbers from a file: preview the bad rows, then confirm once."""
        return import_numbers(self, request)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The whole list as CSV, streamed."""
        return export_list(self, request)
