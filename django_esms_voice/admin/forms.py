"""The admin's forms: place one call, call many numbers, the host-model action's options.

Their fields come from the call options' declaration (options.OPTIONS) and they check a call
with services.check_calls(), as the API and the commands do: a new option shows up on the add
form, in the section of the call kinds it applies to, without an edit here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .. import options, services
from ..conf import default_purpose
from ..exceptions import EsmsInputError, FrequencyCapped, SuppressedNumber
from ..models import VoiceCall
from ..options import CallOption
from ..purposes import Purpose
from .rows import MAX_ROWS, Row, parse_pasted, parse_upload, split_variables

MAX_CSV_BYTES = 2 * 1024 * 1024
#: A sample number to check the options of a batch before any row is read.
SAMPLE_PHONE = "0901888484"
#: The refusals of a number, not of options: the options check ignores them for SAMPLE_PHONE.
NUMBER_REFUSALS = (SuppressedNumber, FrequencyCapped)

#: The add form's sections, in order: a title and CSS classes.
SECTIONS: dict[str, tuple[str | Promise | None, tuple[str, ...]]] = {
    "call": (None, ()),
    "script": (_("Text-to-speech script"), ()),
    "recording": (_("Recording: press a key to talk to us"), ()),
    "schedule": (_("Schedule"), ()),
    "advanced": (_("Advanced"), ("collapse",)),
}
#: Where an option is shown when not in the section of the call kinds it applies to.
PLACED = {
    "send_at": "schedule",
    **dict.fromkeys(("max_repeat", "max_retry", "time_wait_to_ivr", "wait_retry"), "advanced"),
    "batch": "advanced",
}


def section(option: CallOption) -> str:
    """Return the add form's section of an option: its own, else its call kinds'."""
    if option.name in PLACED:
        return PLACED[option.name]
    if option.kinds == options.TEMPLATE:
        return "script"
    if option.kinds == options.RECORD:
        return "recording"
    return "call"


def typed_options() -> tuple[CallOption, ...]:
    """Return the options staff type in: all but metadata, the host code's own data."""
    return tuple(option for option in options.OPTIONS if option.name != "metadata")


def batch_options() -> tuple[CallOption, ...]:
    """Return what the batch forms ask for: the shared options, not the advanced ones."""
    return tuple(o for o in options.OPTIONS if o.shared and section(o) != "advanced")


def option_fieldsets() -> tuple[tuple[str | Promise | None, dict[str, Any]], ...]:
    """Return the add form's fieldsets: every typed option, in its section."""
    names: dict[str, list[str]] = {key: [] for key in SECTIONS}
    for option in typed_options():
        names[section(option)].append(option.name)
    names["call"].sort(key=lambda name: name != "phone")  # who is called, then what is said
    names["call"].append("purpose")  # not sent to eSMS: when and whom it may be called
    return tuple(
        (title, {"fields": tuple(names[key]), **({"classes": classes} if classes else {})})
        for key, (title, classes) in SECTIONS.items()
        if names[key]
    )


def option_field(option: CallOption) -> forms.Field:
    """Return the admin's form field of an option: the declaration's, as radios or a schedule."""
    model_field = option.model_field
    if model_field.choices and not model_field.blank:  # one of a few, always given: the kind
        return option.form_field(widget=forms.RadioSelect, initial=model_field.choices[0][0])
    if isinstance(model_field, models.DateTimeField):
        return option.form_field(form_class=forms.SplitDateTimeField, widget=AdminSplitDateTime)
    if option.multiple:
        return option.form_field(
            help_text=_(
                "Script calls only: one value per line, or comma-separated on one line, in the "
                "order of the script's variables."
            )
        )
    return option.form_field()


def purpose_field() -> forms.ChoiceField:
    """The purpose a form's calls are made for: the rules of when and whom to call follow."""
    return forms.ChoiceField(
        label=capfirst(_("purpose")),
        choices=Purpose.choices,
        initial=default_purpose(),
        required=False,  # a form posted without it (older pages, scripts): the default
        help_text=_(
            "Advertising calls are placed only in their calling window (08:00-17:00 by "
            "default); calls made outside it wait until it opens."
        ),
    )


def frequency_cap_field() -> forms.IntegerField:
    """A new campaign's calls per number (Campaign.frequency_cap): empty, the purpose's cap."""
    return forms.IntegerField(
        label=capfirst(_("calls per number")),
        min_value=0,
        required=False,
        help_text=_(
            "At most this many calls to one number in 24 hours. Empty: the purpose's cap "
            "(one advertising call by default); 0: no cap, the recipients agreed to more."
        ),
    )


def has_own_field(option: CallOption) -> bool:
    """Whether an option's form field is not the model field's own (the admin's widgets)."""
    model_field = option.model_field
    own = option.numbers is not None or option.input_length is not None or option.multiple
    own = own or isinstance(model_field, models.BooleanField)  # yes, no, or the purpose's
    return own or bool(model_field.choices and not model_field.blank)


def error_field(error: EsmsInputError, form: forms.BaseForm) -> str | None:
    """Return the form field a check's error belongs to, None when the form has no such field."""
    name = options.option_name(error.field)
    return name if name in form.fields else None


def not_in_the_past(value: dt.datetime | None) -> dt.datetime | None:
    """Refuse a schedule in the past (a minute of slack for the time spent filling the form)."""
    if value is not None and value < timezone.now() - dt.timedelta(minutes=1):
        raise ValidationError(_("This time is in the past."), code="past")
    return value


# ----------------------------------------------------------------------------- one call


# Generic for type checkers only (django-stubs), not at run time.
if TYPE_CHECKING:
    _CallForm = forms.ModelForm[VoiceCall]
else:
    _CallForm = forms.ModelForm


class PlaceCallForm(_CallForm):
    """The admin's add form: one call, checked by services.check_calls() as eSMS will."""

    class Meta:
        model = VoiceCall
        fields = (*(option.name for option in typed_options()), "purpose")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"] = purpose_field()
        # The other fields are the admin's, from the model (with the admin's widgets).
        for option in typed_options():
            if option.name not in self.fields:
                continue
            if has_own_field(option):
                self.fields[option.name] = option_field(option)
            elif option.help_text is not None:
                self.fields[option.name].help_text = str(option.help_text)

    def clean_variables(self) -> list[str]:
        return split_variables(self.cleaned_data["variables"])

    def clean_send_at(self) -> dt.datetime | None:
        return not_in_the_past(self.cleaned_data["send_at"])

    def clean(self) -> dict[str, Any]:
        """Check the call once every field is valid on its own, on the field it concerns."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        [checked] = services.check_calls([self.values()])
        if checked.error is not None:
            self.add_error(error_field(checked.error, self), str(checked.error.message))
        return cleaned

    def _post_clean(self) -> None:
        """Leave the model's own check out: clean() ran services.check_calls()."""

    def values(self) -> dict[str, Any]:
        """Return the call's options as typed, for services.create_call()."""
        return {name: self.cleaned_data.get(name) for name in self._meta.fields or ()}


# ----------------------------------------------------------------------------- batch options


class CallOptionsForm(forms.Form):
    """What every call of a batch shares: the recording or script, the voice, the schedule."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = dict(self.fields)
        self.option_names = tuple(option.name for option in batch_options())
        self.fields = {option.name: option_field(option) for option in batch_options()}
        self.fields["purpose"] = purpose_field()
        self.fields["frequency_cap"] = frequency_cap_field()
        self.fields.update(declared)
        self.order_fields(self.field_order)

    def clean_send_at(self) -> dt.datetime | None:
        return not_in_the_past(self.cleaned_data["send_at"])

    def clean(self) -> dict[str, Any]:
        """Check the options once, with a sample number, so a wrong one is shown on its field."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        shared = {k: v for k, v in self.options().items() if k != "frequency_cap"}
        [checked] = services.check_calls([{**shared, "phone": SAMPLE_PHONE}])
        # The sample number's own history (listed, capped) says nothing of the options.
        if checked.error is not None and not isinstance(checked.error, NUMBER_REFUSALS):
            self.add_error(error_field(checked.error, self), str(checked.error.message))
        return cleaned

    def options(self) -> dict[str, Any]:
        """Return the options as typed, by option name, the calls' purpose and their cap."""
        typed = {name: self.cleaned_data.get(name) for name in self.option_names}
        return {
            **typed,
            "purpose": self.cleaned_data.get("purpose"),
            "frequency_cap": self.cleaned_data.get("frequency_cap"),
        }


def dump_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return batch options as JSON-friendly values, for a signed payload."""
    send_at = values.get("send_at")
    return {**values, "send_at": send_at.isoformat() if send_at else None}


def load_options(data: Mapping[str, Any]) -> dict[str, Any]:
    """Read batch options back from dump_options()."""
    values = {option.name: data.get(option.name) for option in batch_options()}
    values["purpose"] = data.get("purpose")
    values["frequency_cap"] = data.get("frequency_cap")
    send_at = values.get("send_at")
    if send_at:
        values["send_at"] = dt.datetime.fromisoformat(str(send_at))
    return values


class CallManyForm(CallOptionsForm):
    """Numbers to call, pasted or in a CSV or Excel file, with the options they share."""

    numbers = forms.CharField(
        label=capfirst(_("numbers")),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 60, "placeholder": "0901888484, An"}),
        help_text=_(
            "One number per line. For a script call, add its variables after the number, "
            "separated by commas (or tabs, when pasted from a spreadsheet): "
            "0901888484, Nguyen Van An, 150000."
        ),
    )
    csv_file = forms.FileField(
        label=capfirst(_("or a CSV or Excel file")),
        required=False,
        help_text=_(
            "The phone number in the first column, the script variables in the next columns, "
            "with or without a header row: CSV in UTF-8, or Excel (.xlsx, its first sheet). "
            "A number Excel shows without its leading 0 (901888484) is called as 0901888484."
        ),
    )
    batch = forms.CharField(
        label=capfirst(_("campaign name")),
        max_length=100,
        required=False,
        help_text=_(
            "These calls become one campaign, which you can pause, resume and read the results "
            "of. Left empty, a name is made up."
        ),
    )
    field_order = ("numbers", "csv_file", "kind", "template_id")

    def clean(self) -> dict[str, Any]:
        """Read the rows from the pasted text or the file (one of them)."""
        cleaned = super().clean()
        rows = read_rows(self, cleaned)
        if rows is not None:
            cleaned["rows"] = rows
        return cleaned


def read_rows(form: forms.Form, cleaned: Mapping[str, Any]) -> list[Row] | None:
    """Read a form's rows from its pasted `numbers` or its `csv_file` (one of them).

    None when the file was refused (the error is on its field); raises for the form.
    """
    pasted, upload = cleaned.get("numbers", ""), cleaned.get("csv_file")
    if pasted.strip() and upload:
        raise ValidationError(_("Paste numbers or upload a file, not both."), code="both")
    if not pasted.strip() and not upload:
        raise ValidationError(_("Paste some numbers or upload a CSV file."), code="empty")
    if upload:
        if upload.size is not None and upload.size > MAX_CSV_BYTES:
            form.add_error("csv_file", _("The file is larger than 2 MB: split it."))
            return None
        try:
            rows = parse_upload(upload.name or "", upload.read())
        except ValidationError as exc:
            form.add_error("csv_file", exc)
            return None
    else:
        rows = parse_pasted(pasted)
    if not rows:
        raise ValidationError(_("No phone number was found."), code="no_rows")
    if len(rows) > MAX_ROWS:
        raise ValidationError(
            _("At most %(max)d numbers at a time: split the list."),
            code="too_many",
            params={"max": MAX_ROWS},
        )
    return rows
