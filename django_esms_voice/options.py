"""A call's options, declared once: the request, the checks, forms, serializers and the command.

Adding an option: declare it in OPTIONS, add the VoiceCall field (and its migration) and the
request dataclass field in esms/payloads.py. Everything else reads this table.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.apps import apps
from django.db import models
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .esms.payloads import RecordCallRequest, TemplateCallRequest
from .esms.protocol import IVR_KEYS, SPEEDS, Param
from .exceptions import EsmsInputError

if TYPE_CHECKING:
    from rest_framework import serializers


class CallKind(models.TextChoices):
    """Which eSMS endpoint places the call."""

    RECORD = "record", _("Recording")
    TEMPLATE = "template", _("Text-to-speech script")


BOTH = frozenset(CallKind.values)
RECORD = frozenset({CallKind.RECORD.value})
TEMPLATE = frozenset({CallKind.TEMPLATE.value})
#: The empty choice of an optional select, the same on every Django version: Django 6.1 shows
#: "- Select an option -", which it does not translate into Vietnamese.
NOT_CHOSEN = ("", "---------")


@dataclass(frozen=True, kw_only=True)
class CallOption:
    """One thing a call says or how it is delivered: its field, call kinds and request field."""

    #: The VoiceCall field, and the keyword of services.create_call().
    name: str
    #: The call kinds that take it; set on another kind, the call is refused.
    kinds: frozenset[str] = BOTH
    #: The field of the esms request dataclass it fills, and the eSMS parameter that becomes.
    request_field: str | None = None
    param: Param | None = None
    #: Shared by every call of a batch (the admin's call-many and host-model action).
    shared: bool = False
    #: Copied to the new call when a call is retried.
    copied: bool = True
    #: The whole numbers eSMS takes: a choice in forms, bounds in the API and the command.
    numbers: range | None = None
    #: Longest text typed in: a phone number is normalised (shorter) before it is stored.
    input_length: int | None = None
    #: Several values, in order (the script's variables).
    multiple: bool = False
    #: What a form or the API says about it; the model field's help text when None.
    help_text: str | Promise | None = None
    #: The esms_voice_call flag, its metavar and help (None: the command sets it its own way).
    flag: str | None = None
    metavar: str | None = None
    flag_help: str | Promise | None = None

    @property
    def model_field(self) -> models.Field[Any, Any]:
        """Return the VoiceCall field (looked up in the app registry: models import this module)."""
        field = apps.get_model("esms_voice", "VoiceCall")._meta.get_field(self.name)
        return cast("models.Field[Any, Any]", field)

    @property
    def label(self) -> str:
        """Return the option's translated label, from its model field."""
        return capfirst(str(self.model_field.verbose_name))

    @property
    def empty(self) -> Any:
        """Return what the model stores when the option is not given."""
        field = self.model_field
        if field.has_default():
            return field.get_default()
        return None if field.null else ""

    def is_set(self, value: Any) -> bool:
        """Whether a value is given (not None, False, "" or an empty list)."""
        empties = (None, False)
        return all(value is not e for e in empties) and value != "" and value != [] and value != ()

    def form_field(self, **overrides: Any) -> forms.Field:
        """Return a form field for the option, labelled and explained as its model field is."""
        field = self.model_field
        kwargs: dict[str, Any] = {
            "label": self.label,
            "required": not field.blank,
            "help_text": self.help_text if self.help_text is not None else field.help_text,
        }
        kwargs.update(overrides)
        if self.numbers is not None:
            choices = [NOT_CHOSEN, *((str(n), str(n)) for n in self.numbers)]
            return forms.TypedChoiceField(choices=choices, coerce=int, empty_value=None, **kwargs)
        if field.choices and field.blank:
            kwargs.setdefault("choices", [NOT_CHOSEN, *field.choices])
        if self.input_length is not None:
            return forms.CharField(max_length=self.input_length, **kwargs)
        if self.multiple:
            kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 40}))
            return forms.CharField(**kwargs)
        if isinstance(field, models.BooleanField):
            # Three answers: yes, no, or the default the call's purpose gives (empty, None).
            kwargs["required"] = False
            return forms.TypedChoiceField(
                choices=[("", _("As its purpose says")), ("yes", _("Yes")), ("no", _("No"))],
                coerce=lambda answer: answer == "yes",
                empty_value=None,
                **kwargs,
            )
        return cast("forms.Field", field.formfield(**kwargs))

    def serializer_field(self, **overrides: Any) -> serializers.Field[Any, Any, Any, Any]:
        """Return an API field for the option, built by DRF from the model field where it can."""
        from rest_framework import serializers

        field = self.model_field
        kwargs: dict[str, Any] = {"required": False}
        if self.help_text is not None:
            kwargs["help_text"] = self.help_text
        kwargs.update(overrides)
        if self.numbers is not None:
            low, high = self.numbers[0], self.numbers[-1]
            return serializers.IntegerField(
                min_value=low, max_value=high, allow_null=True, **kwargs
            )
        if self.input_length is not None:
            kwargs.setdefault("allow_blank", field.blank)
            return serializers.CharField(max_length=self.input_length, **kwargs)
        if self.multiple:
            child = serializers.CharField(allow_blank=True, trim_whitespace=False)
            return serializers.ListField(child=child, **kwargs)
        if isinstance(field, models.BooleanField):  # null or left out: as the purpose says
            return serializers.BooleanField(allow_null=True, **{**kwargs, "required": False})
        field_class, field_kwargs = serializers.ModelSerializer().build_standard_field(
            self.name, field
        )
        field_kwargs.pop("required", None)
        return field_class(**{**field_kwargs, **kwargs})

    def add_argument(self, parser: argparse.ArgumentParser, **overrides: Any) -> None:
        """Declare the option's flag on a command's parser (none when it has no flag)."""
        if self.flag is None:
            return
        kwargs: dict[str, Any] = {"dest": self.name, "help": str(self.flag_help or self.label)}
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.numbers is not None:
            # No argparse choices: the call's check refuses a wrong value, saying the range.
            kwargs["type"] = int
            kwargs.setdefault("metavar", f"{{{self.numbers[0]}..{self.numbers[-1]}}}")
        elif self.multiple:
            kwargs.update(action="append", default=[])
        elif isinstance(self.model_field, models.BooleanField):  # --x, --no-x, or the default
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif self.model_field.choices:
            kwargs["choices"] = [value for value, _label in self.model_field.choices]
        elif isinstance(self.model_field, models.PositiveIntegerField | models.IntegerField):
            kwargs["type"] = int
        parser.add_argument(self.flag, **{**kwargs, **overrides})


PHONE_INPUT_LENGTH = 40

OPTIONS: tuple[CallOption, ...] = (
    CallOption(name="kind", shared=True),
    CallOption(
        name="template_id",
        request_field="template_id",
        param=Param.TEMPLATE_ID,
        shared=True,
        flag="--template-id",
        flag_help=_("Id of the recording (or, with --script, of the script) on account.esms.vn."),
    ),
    CallOption(
        name="phone", request_field="phone", param=Param.PHONE, input_length=PHONE_INPUT_LENGTH
    ),
    CallOption(
        name="variables",
        kinds=TEMPLATE,
        request_field="variables",
        param=Param.VARIABLES,
        multiple=True,
        flag="--var",
        metavar="VALUE",
        flag_help=_("A value for the script's variables, in order; repeat for each (--script)."),
    ),
    CallOption(
        name="secret_variables",
        kinds=TEMPLATE,
        shared=True,
        help_text=_(
            "For one-time passwords: the values are never shown, and are wiped once eSMS has "
            "the call. Empty: as the purpose says (transactional calls are secret by default)."
        ),
        flag="--secret",
        flag_help=_(
            "The script's values are secret (a one-time password): never shown, wiped once "
            "eSMS has the call. Default: as the purpose says (--script)."
        ),
    ),
    CallOption(
        name="voice",
        kinds=TEMPLATE,
        request_field="voice",
        param=Param.VOICE,
        shared=True,
        help_text=_("Script calls only."),
        flag="--voice",
        flag_help=_("Script voice (--script)."),
    ),
    CallOption(
        name="speed",
        kinds=TEMPLATE,
        request_field="speed",
        param=Param.SPEED,
        shared=True,
        numbers=SPEEDS,
        help_text=_("Script calls only: -3 (slowest) to 3 (fastest)."),
        flag="--speed",
        flag_help=_("Script speed, -3 (slow) to 3 (fast) (--script)."),
    ),
    CallOption(
        name="ivr_key",
        kinds=RECORD,
        request_field="ivr",
        param=Param.IVR,
        shared=True,
        numbers=IVR_KEYS,
        help_text=_("Recording calls only: the key that puts the listener through."),
        flag="--ivr",
        metavar="KEY",
        flag_help=_("Key 0-9 the listener presses to be forwarded (needs --forward)."),
    ),
    CallOption(
        name="number_forward",
        kinds=RECORD,
        request_field="number_forward",
        param=Param.NUMBER_FORWARD,
        shared=True,
        input_length=PHONE_INPUT_LENGTH,
        help_text=_("Where the listener is put through when they press the IVR key."),
        flag="--forward",
        metavar="NUMBER",
        flag_help=_("Number to forward to when the key is pressed."),
    ),
    CallOption(
        name="max_repeat",
        kinds=RECORD,
        request_field="max_repeat",
        param=Param.MAX_REPEAT,
        shared=True,
        flag="--max-repeat",
        metavar="N",
        flag_help=_("How many times the recording is repeated (recording calls)."),
    ),
    CallOption(
        name="max_retry",
        kinds=RECORD,
        request_field="max_retry",
        param=Param.MAX_RETRY,
        shared=True,
        flag="--max-retry",
        metavar="N",
        flag_help=_("How many times eSMS redials when nobody picks up (recording calls)."),
    ),
    CallOption(
        name="time_wait_to_ivr",
        kinds=RECORD,
        request_field="time_wait_to_ivr",
        param=Param.TIME_WAIT_TO_IVR,
        shared=True,
        flag="--time-wait-to-ivr",
        metavar="N",
        flag_help=_("Most seconds to wait for the key press (recording calls)."),
    ),
    CallOption(
        name="wait_retry",
        kinds=RECORD,
        request_field="wait_retry",
        param=Param.WAIT_RETRY,
        shared=True,
        flag="--wait-retry",
        metavar="N",
        flag_help=_("Seconds between two redials (recording calls)."),
    ),
    CallOption(
        name="send_at",
        request_field="send_at",
        param=Param.SEND_DATE,
        shared=True,
        help_text=_("Leave empty to call now."),
        flag="--at",
        metavar="ISO8601",
        flag_help=_(
            "When eSMS should place the call, e.g. 2025-03-01T09:30 (without an offset the "
            "time is read in the site's TIME_ZONE)."
        ),
    ),
    CallOption(
        name="batch", flag="--batch", metavar="TAG", flag_help=_("A tag to find the call by later.")
    ),
    CallOption(name="metadata"),
)

BY_NAME: dict[str, CallOption] = {option.name: option for option in OPTIONS}
#: The option names, in the order forms and serializers show them.
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: What every call of a batch shares.
SHARED: tuple[str, ...] = tuple(option.name for option in OPTIONS if option.shared)
#: What a retry copies from the call it retries.
COPIED: tuple[str, ...] = tuple(option.name for option in OPTIONS if option.copied)


def with_empties(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the values with None for an option the model stores as "" replaced by ""."""
    cleaned = dict(values)
    for name, value in values.items():
        option = BY_NAME.get(name)
        if value is None and option is not None and option.empty is not None:
            cleaned[name] = option.empty
    return cleaned


def check_kind(values: Mapping[str, Any]) -> None:
    """Refuse an option set on a kind of call it does not apply to; raises EsmsInputError."""
    kind = values.get("kind", CallKind.RECORD)
    if kind not in CallKind.values:
        raise EsmsInputError("kind", gettext("Must be 'record' or 'template'."))
    foreign = [
        option
        for option in OPTIONS
        if kind not in option.kinds and option.is_set(values.get(option.name))
    ]
    if not foreign:
        return
    labels = ", ".join(option.label for option in foreign)
    if kind == CallKind.RECORD:
        message = gettext("These options belong to text-to-speech script calls: %(options)s.")
    else:
        message = gettext("eSMS documents these options for recording calls only: %(options)s.")
    # The field of the first such option in the form's order (ivr_key's is "ivr", eSMS's name).
    first = next(option for option in OPTIONS if kind not in option.kinds)
    raise EsmsInputError(first.request_field or first.name, message % {"options": labels})


def build_request(
    values: Mapping[str, Any], *, request_id: str | None = None, callback_url: str | None = None
) -> RecordCallRequest | TemplateCallRequest:
    """Return the validated eSMS request for a call's values; raises EsmsInputError."""
    kind = values.get("kind", CallKind.RECORD)
    request_class = TemplateCallRequest if kind == CallKind.TEMPLATE else RecordCallRequest
    arguments: dict[str, Any] = {"request_id": request_id, "callback_url": callback_url}
    for option in OPTIONS:
        if option.request_field is None or kind not in option.kinds:
            continue
        value = values.get(option.name)
        # The request leaves out what is not given; the model stores "" for it.
        arguments[option.request_field] = value if option.is_set(value) else None
    if kind == CallKind.TEMPLATE:
        arguments["variables"] = arguments.get("variables") or ()
    return request_class(**arguments)


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a call's values the way eSMS will; return them normalised, or raise EsmsInputError."""
    cleaned = with_empties(values)
    check_kind(cleaned)
    request = build_request(cleaned)
    cleaned["phone"] = request.phone
    if isinstance(request, RecordCallRequest):
        if "number_forward" in cleaned:
            cleaned["number_forward"] = request.number_forward or ""
    elif "variables" in cleaned:
        cleaned["variables"] = list(request.variables)
    return cleaned


def names(*, kinds: Sequence[str] | None = None) -> tuple[str, ...]:
    """Return the names of the options that apply to one of these kinds (all when None)."""
    if kinds is None:
        return NAMES
    return tuple(option.name for option in OPTIONS if option.kinds & set(kinds))


def option_name(field: str) -> str:
    """Return the option an EsmsInputError's field is about: "ivr" (eSMS's name) → "ivr_key"."""
    for option in OPTIONS:
        if field in (option.name, option.request_field):
            return option.name
    return field
