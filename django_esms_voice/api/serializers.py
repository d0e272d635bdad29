"""DRF serializers of the calls API: what a call shows, what creating one takes, the filters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from .. import options, services
from ..esms.phone import normalize_phone
from ..exceptions import EsmsInputError
from ..models import Campaign, VoiceCall
from ..options import CallKind
from ..policies import check_campaign_open
from ..purposes import Purpose
from ..states import CallStatus, Hold

#: Most calls one batch request may create.
MAX_BATCH_SIZE = 1000
#: Longest metadata, as JSON, one call may carry.
MAX_METADATA_LENGTH = 10_000

#: EsmsInputError.field (a request field, as eSMS names it) → the API field it belongs to.


def _has_nul(value: Any) -> bool:
    """Say whether a JSON value holds a NUL character in any of its strings or keys."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class VoiceCallSerializer(serializers.ModelSerializer[VoiceCall]):
    """A call as the API shows it: the public uuid, never the database id or callback token."""

    retry_of = serializers.SlugRelatedField[VoiceCall](
        slug_field="uuid",
        read_only=True,
        allow_null=True,
        help_text=_("The call this one retries."),
    )
    # Read-only model fields lose allow_blank, and the schema would not allow "".
    voice = serializers.CharField(
        read_only=True, help_text=_("Script voice; empty for the eSMS default.")
    )
    linked_type = serializers.SerializerMethodField(
        help_text=_("The linked object's model, as app_label.model.")
    )
    campaign = serializers.PrimaryKeyRelatedField[Campaign](
        read_only=True, allow_null=True, help_text=_("The id of the call's campaign.")
    )
    hold = serializers.ChoiceField(
        choices=Hold.choices,
        read_only=True,
        help_text=_("Why a pending call is not placed now; empty when it may be."),
    )

    class Meta:
        model = VoiceCall
        # The call's options (options.py), then what became of it.
        fields = (
            "uuid", *options.NAMES, "status", "attempts", "last_error_code",
            "last_error_message", "smsid", "call_status", "duration", "ivr_pressed", "price",
            "sent_result", "cid", "send_status", "created_at", "submitted_at", "completed_at",
            "updated_at", "retry_of", "linked_type", "object_id", "campaign", "purpose", "hold",
        )  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: VoiceCall) -> dict[str, Any]:
        """Return the call; secret script values never leave (secret_variables says why)."""
        data: dict[str, Any] = super().to_representation(instance)
        if instance.secret_variables:
            data["variables"] = []
        return data

    def get_linked_type(self, call: VoiceCall) -> str | None:
        """Return the linked object's model label (content types are cached: no query)."""
        if call.content_type_id is None:
            return None
        content_type = call.content_type
        return f"{content_type.app_label}.{content_type.model}" if content_type else None


class VoiceCallCreateSerializer(serializers.Serializer[Any]):
    """What creating a call takes: every call option (options.py), checked as eSMS will check it."""

    #: What the API says or requires beyond the options' declaration.
    field_overrides: dict[str, dict[str, Any]] = {
        "kind": {"required": False, "default": CallKind.RECORD},
        "phone": {"help_text": _("A Vietnamese phone number.")},
        "variables": {
            "help_text": _("Values of the script's variables, in order (script calls only).")
        },
    }

    # A JSON object (not any JSON value), bounded below.
    metadata = serializers.DictField(
        required=False, help_text=_("Your own data about the call, kept with it (a JSON object).")
    )
    purpose = serializers.ChoiceField(
        choices=Purpose.choices,
        required=False,
        help_text=_(
            "What the call is for; the DEFAULT_PURPOSE setting when left out. Outside its "
            "calling window the call waits. In a batch, the campaign's purpose applies."
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """Return a field per call option, in the options' order; declared fields win."""
        declared = super().get_fields()
        fields: dict[str, serializers.Field[Any, Any, Any, Any]] = {}
        for option in options.OPTIONS:
            if option.name in declared:
                fields[option.name] = declared[option.name]
                continue
            # What the model cannot store blank must be given (its default aside).
            kwargs = {"required": not option.model_field.blank}
            kwargs.update(self.field_overrides.get(option.name, {}))
            fields[option.name] = option.serializer_field(**kwargs)
        fields.update({name: field for name, field in declared.items() if name not in fields})
        return fields

    def validate_metadata(self, value: dict[str, Any]) -> dict[str, Any]:
        """Refuse metadata too large to keep, or with NUL characters (PostgreSQL refuses them)."""
        encoded = json.dumps(value, cls=DjangoJSONEncoder)
        if len(encoded) > MAX_METADATA_LENGTH:
            raise serializers.ValidationError(
                _("At most %(max)d characters of JSON are allowed.") % {"max": MAX_METADATA_LENGTH}
            )
        if _has_nul(value):
            raise serializers.ValidationError(_("Null characters are not allowed."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Check the call as eSMS will (services.check_calls); return what was given, normalised."""
        [checked] = services.check_calls([attrs])
        if checked.error is not None:
            raise serializers.ValidationError(field_errors(checked.error, self.fields))
        return {name: checked.values[name] for name in attrs}


def open_campaign(campaign: Campaign) -> Campaign:
    """Refuse a campaign no call can be added to (policies.check_campaign_open)."""
    try:
        check_campaign_open(campaign)
    except EsmsInputError as exc:
        raise serializers.ValidationError(str(exc.message)) from None
    return campaign


def campaign_field() -> serializers.PrimaryKeyRelatedField[Campaign]:
    """The id of an existing campaign to add calls to."""
    return serializers.PrimaryKeyRelatedField[Campaign](
        queryset=Campaign.objects.all(),
        required=False,
        help_text=_(
            "The id of a campaign to add the call(s) to; not a canceled one. A paused "
            "campaign's new calls wait for it to resume."
        ),
    )


class OneCallCreateSerializer(VoiceCallCreateSerializer):
    """What creating one call takes: the call options, and the campaign it may join."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """The call options, then the campaign."""
        return {**super().get_fields(), "campaign": campaign_field()}

    def validate_campaign(self, campaign: Campaign) -> Campaign:
        """Refuse a canceled campaign."""
        return open_campaign(campaign)


class VoiceCallBatchSerializer(serializers.Serializer[Any]):
    """Many calls at once, as one batch: all are created, or none when one row is wrong."""

    batch = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text=_(
            "The name of the campaign the batch makes, kept on each call; one is made up when "
            "left out."
        ),
    )
    calls = VoiceCallCreateSerializer(  # type: ignore[call-arg]  # ListSerializer takes max_length
        many=True, allow_empty=False, max_length=MAX_BATCH_SIZE
    )
    allow_repeats = serializers.BooleanField(
        default=False,
        help_text=_("Call a number that appears more than once in the batch once per row."),
    )
    campaign = campaign_field()
    purpose = serializers.ChoiceField(
        choices=Purpose.choices,
        required=False,
        help_text=_("What the new campaign is for; the DEFAULT_PURPOSE setting when left out."),
    )
    frequency_cap = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text=_(
            "The new campaign's calls per number: at most this many calls to one number in the "
            "purpose's period (24 hours by default). Null or left out: the purpose's cap "
            "(FREQUENCY_CAPS); 0: no cap."
        ),
    )

    def validate_campaign(self, campaign: Campaign) -> Campaign:
        """Refuse a canceled campaign."""
        return open_campaign(campaign)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Check the rows together (services.check_calls): a number repeated, unless allowed.

        With an existing campaign, a batch tag, purpose or cap must be its own: they describe a
        new one.
        """
        campaign = attrs.get("campaign")
        if campaign is not None:
            given = {"batch": campaign.name, "purpose": campaign.purpose}
            if "frequency_cap" in attrs and attrs["frequency_cap"] != campaign.frequency_cap:
                raise serializers.ValidationError(
                    {"frequency_cap": [_("Leave it out: it describes a new campaign.")]}
                )
            wrong = {
                name: [_("Leave it out, or give the campaign's own: “%(value)s”.") % {"value": own}]
                for name, own in given.items()
                if attrs.get(name) not in (None, "", own)
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        # Each row's SendDate is checked against the calling window of the campaign's purpose.
        purpose = campaign.purpose if campaign is not None else attrs.get("purpose")
        rows = [{**row, "purpose": purpose} for row in attrs["calls"]]
        checked = services.check_calls(
            rows,
            allow_repeats=attrs["allow_repeats"],
            frequency_cap=campaign.frequency_cap
            if campaign is not None
            else attrs.get("frequency_cap"),
        )
        errors = {
            str(index): batch_row_errors(row.error)
            for index, row in enumerate(checked)
            if row.error is not None
        }
        if errors:
            raise serializers.ValidationError({"calls": errors})
        return attrs


def field_errors(
    error: EsmsInputError, fields: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """Return a check's error under the serializer field it belongs to (else non-field errors)."""
    field = options.option_name(error.field)
    if field not in (fields if fields is not None else options.BY_NAME):
        field = api_settings.NON_FIELD_ERRORS_KEY
    return {field: [str(error.message)]}


def batch_row_errors(error: EsmsInputError) -> dict[str, list[str]]:
    """Return one batch row's error; a repeated number says how to call it more than once."""
    if isinstance(error, services.RepeatedPhone):
        message = _(
            "The same number as call %(index)d of this batch. Send “allow_repeats”: true "
            "to call it more than once."
        )
        return {"phone": [message % {"index": error.earlier}]}
    return field_errors(error)


class VoiceCallBatchResultSerializer(serializers.Serializer[Any]):
    """The calls a batch request created, and the campaign they belong to."""

    batch = serializers.CharField(help_text=_("The campaign's name, kept on each call as batch."))
    campaign = serializers.IntegerField(help_text=_("The id of the calls' campaign."))
    campaign_url = serializers.URLField(help_text=_("Where to follow, pause or cancel it."))
    calls = VoiceCallSerializer(many=True)


class VoiceCallFilterSerializer(serializers.Serializer[Any]):
    """The list filters, read from the query string."""

    status = serializers.MultipleChoiceField(
        choices=CallStatus.choices,
        required=False,
        help_text=_("Only calls with this status; repeat for several."),
    )
    kind = serializers.ChoiceField(choices=CallKind.choices, required=False)
    purpose = serializers.ChoiceField(
        choices=Purpose.choices, required=False, help_text=_("Only calls with this purpose.")
    )
    batch = serializers.CharField(required=False, max_length=100)
    campaign = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Only calls of the campaign with this id.")
    )
    phone = serializers.CharField(
        required=False, max_length=32, help_text=_("Any spelling of a Vietnamese number.")
    )
    created_after = serializers.DateTimeField(
        required=False, help_text=_("Calls created at or after this time.")
    )
    created_before = serializers.DateTimeField(
        required=False, help_text=_("Calls created before this time.")
    )

    def validate_phone(self, value: str) -> str:
        """Normalise the number the way calls store it."""
        try:
            return normalize_phone(value)
        except EsmsInputError as exc:
            raise serializers.ValidationError(str(exc.message)) from None


class ErrorSerializer(serializers.Serializer[Any]):
    """An error answer."""

    detail = serializers.CharField()
