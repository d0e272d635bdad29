"""The admin's forms: place one call, call many numbers, the host-model action's options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from ..esms.phone import normalize_phone
from ..esms.protocol import IVR_KEYS, SPEEDS, VOICES
from ..exceptions import InvalidPhoneNumber
from ..models import CallKind, VoiceCall
from .rows import MAX_ROWS, OPTION_FIELDS, check_call, parse_csv, parse_pasted, split_variables

MAX_CSV_BYTES = 2 * 1024 * 1024
#: A sample number to check the options of a batch before any row is read.
_SAMPLE_PHONE = "0901888484"
_IVR_KEYS = [("", "---------"), *((str(key), str(key)) for key in IVR_KEYS)]
_SPEEDS = [("", "---------"), *((str(speed), str(speed)) for speed in SPEEDS)]


def _clean_phone(value: str, field: str) -> str:
    """Normalise a typed number; the form shows the reason when it is not a Vietnamese one."""
    try:
        return normalize_phone(value, field=field)
    except InvalidPhoneNumber as exc:
        raise ValidationError(str(exc.message), code="invalid_phone") from None


def _not_in_the_past(value: dt.datetime | None) -> dt.datetime | None:
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


def _ivr_key_field() -> forms.TypedChoiceField:
    """The IVR key field both call forms show."""
    return forms.TypedChoiceField(
        label=capfirst(_("IVR key")),
        choices=_IVR_KEYS,
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("Recording calls only: the key that puts the listener through."),
    )


class _CallOptionCleaning:
    """The field cleaners both call forms share."""

    cleaned_data: dict[str, Any]

    def clean_number_forward(self) -> str:
        value = self.cleaned_data["number_forward"].strip()
        return _clean_phone(value, "number_forward") if value else ""

    def clean_send_at(self) -> dt.datetime | None:
        return _not_in_the_past(self.cleaned_data["send_at"])


class PlaceCallForm(_CallOptionCleaning, _CallForm):
    """The admin's add form: one call, validated like eSMS by VoiceCall.clean()."""

    # Longer than the column: "+84 (0) 901-888-484" is normalised before it is stored.
    phone = forms.CharField(label=capfirst(_("phone number")), max_length=40)
    number_forward = forms.CharField(
        label=capfirst(_("forward number")),
        max_length=40,
        required=False,
        help_text=_("Where the listener is put through when they press the IVR key."),
    )
    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        choices=CallKind.choices,
        widget=forms.RadioSelect,
        initial=CallKind.RECORD,
    )
    variables = forms.CharField(
        label=capfirst(_("script variables")),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=_(
            "Script calls only: one value per line, or comma-separated on one line, in the "
            "order of the script's variables."
        ),
    )
    speed = forms.TypedChoiceField(
        label=capfirst(_("speed")), choices=_SPEEDS, coerce=int, empty_value=None, required=False
    )
    ivr_key = _ivr_key_field()

    class Meta:
        model = VoiceCall
        fields = (
            "phone", "kind", "template_id", "variables", "voice", "speed", "ivr_key",
            "number_forward", "send_at", "max_repeat", "max_retry", "time_wait_to_ivr",
            "wait_retry", "batch",
        )  # fmt: skip

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data["phone"], "phone")

    def _post_clean(self) -> None:
        """Check the call with VoiceCall.clean() once every field is valid on its own.

        A field the form refused stays empty on the instance, and the model's check would
        report it a second time, as missing.
        """
        if not self.errors:  # filled by now: full_clean() runs this last
            super()._post_clean()  # type: ignore[misc]  # a ModelForm hook django-stubs omits

    def clean_variables(self) -> list[str]:
        return split_variables(self.cleaned_data["variables"])


# ----------------------------------------------------------------------------- batch options


class CallOptionsForm(_CallOptionCleaning, forms.Form):
    """What every call of a batch shares: the recording or script, the voice, the schedule."""

    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        choices=CallKind.choices,
        widget=forms.RadioSelect,
        initial=CallKind.RECORD,
    )
    template_id = forms.CharField(
        label=capfirst(_("recording or script id")),
        max_length=50,
        help_text=_("The id of the recording or script registered on account.esms.vn."),
    )
    voice = forms.ChoiceField(
        label=capfirst(_("voice")),
        choices=[("", "---------"), *VOICES.items()],
        required=False,
        help_text=_("Script calls only."),
    )
    speed = forms.TypedChoiceField(
        label=capfirst(_("speed")),
        choices=_SPEEDS,
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("Script calls only: -3 (slowest) to 3 (fastest)."),
    )
    ivr_key = _ivr_key_field()
    number_forward = forms.CharField(
        label=capfirst(_("forward number")),
        max_length=40,
        required=False,
        help_text=_("Where the listener is put through when they press the IVR key."),
    )
    send_at = forms.SplitDateTimeField(
        label=capfirst(_("scheduled for")),
        widget=AdminSplitDateTime,
        required=False,
        help_text=_("Leave empty to call now."),
    )

    def clean(self) -> dict[str, Any]:
        """Check the options once, with a sample number, so a wrong one is shown on its field."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        error = check_call(self.options(), _SAMPLE_PHONE, [])
        if error is not None:
            field_name = {"ivr": "ivr_key", "variables": "voice"}.get(error.field, error.field)
            self.add_error(field_name if field_name in self.fields else None, str(error.message))
        return cleaned

    def options(self) -> dict[str, Any]:
        """Return the validated options as VoiceCall fields (template-only ones when they apply)."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "template_id": data["template_id"].strip(),
            "voice": data.get("voice") or "",
            "speed": data.get("speed"),
            "ivr_key": data.get("ivr_key"),
            "number_forward": data.get("number_forward") or "",
            "send_at": data.get("send_at"),
        }


def dump_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return batch options as JSON-friendly values, for a signed payload."""
    send_at = options.get("send_at")
    return {**options, "send_at": send_at.isoformat() if send_at else None}


def load_options(data: Mapping[str, Any]) -> dict[str, Any]:
    """Read batch options back from dump_options()."""
    options = {name: data.get(name) for name in OPTION_FIELDS}
    if options["send_at"]:
        options["send_at"] = dt.datetime.fromisoformat(options["send_at"])
    for name in ("voice", "number_forward"):
        options[name] = options[name] or ""
    return options


class CallManyForm(CallOptionsForm):
    """Numbers to call, pasted or in a CSV file, with the options they share."""

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
        label=capfirst(_("or a CSV file")),
        required=False,
        help_text=_(
            "The phone number in the first column, the script variables in the next columns; "
            "UTF-8, with or without a header row."
        ),
    )
    batch = forms.CharField(
        label=capfirst(_("batch name")),
        max_length=100,
        required=False,
        help_text=_("Groups these calls in the list. Left empty, a name is made up."),
    )
    field_order = ("numbers", "csv_file", "kind", "template_id")

    def clean(self) -> dict[str, Any]:
        """Read the rows from the pasted text or the file (one of them)."""
        cleaned = super().clean()
        pasted, upload = cleaned.get("numbers", ""), cleaned.get("csv_file")
        if pasted.strip() and upload:
            raise ValidationError(_("Paste numbers or upload a file, not both."), code="both")
        if not pasted.strip() and not upload:
            raise ValidationError(_("Paste some numbers or upload a CSV file."), code="empty")
        if upload:
            if upload.size is not None and upload.size > MAX_CSV_BYTES:
                self.add_error("csv_file", _("The file is larger than 2 MB: split it."))
                return cleaned
            try:
                rows = parse_csv(upload.read())
            except ValidationError as exc:
                self.add_error("csv_file", exc)
                return cleaned
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
        cleaned["rows"] = rows
        return cleaned
