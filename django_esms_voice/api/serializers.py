"""DRF serializers of the calls API: what a call shows, what creating one takes, the filters."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.settings import api_settings

from .conf import VOICES
from .esms.phone import normalize_phone, repeats
from .exceptions import EsmsInputError
from .models import CallKind, VoiceCall
from .states import CallStatus

#: Most calls one batch request may create.
MAX_BATCH_SIZE = 1000
#: Longest metadata, as JSON, one call may carry.
MAX_METADATA_LENGTH = 10_000

#: EsmsInputError.field → the serializer field the error belongs to.
_ERROR_FIELDS = {"ivr": "ivr_key"}


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

    class Meta:
        model = VoiceCall
        fields = (
            "uuid", "kind", "template_id", "variables", "voice", "speed", "number_forward",
            "ivr_key", "max_repeat", "max_retry", "time_wait_to_ivr", "wait_retry", "send_at",
            "phone", "status", "attempts", "last_error_code", "last_error_message", "smsid",
            "call_status", "duration", "ivr_pressed", "price", "sent_result", "cid",
            "send_status", "created_at", "submitted_at", "completed_at", "updated_at",
            "batch", "metadata", "retry_of", "linked_type", "object_id",
        )  # fmt: skip
        read_only_fields = fields

    def get_linked_type(self, call: VoiceCall) -> str | None:
        """Return the linked object's model label (content types are cached: no query)."""
        if call.content_type_id is None:
            return None
        content_type = call.content_type
        return f"{content_type.app_label}.{content_type.model}" if content_type else None


class VoiceCallCreateSerializer(serializers.ModelSerializer[VoiceCall]):
    """What creating a call takes; checked the way eSMS will check it, field by field."""

    kind = serializers.ChoiceField(choices=CallKind.choices, default=CallKind.RECORD)
    # Longer than the columns: "+84 (90) 188-84-84" is stored as 0901888484.
    phone = serializers.CharField(max_length=32, help_text=_("A Vietnamese phone number."))
    number_forward = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text=_("Number to forward to when the listener presses the IVR key."),
    )
    variables = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text=_("Values of the script's variables, in order (script calls only)."),
    )
    voice = serializers.ChoiceField(choices=VOICES, required=False, allow_blank=True)
    speed = serializers.IntegerField(min_value=-3, max_value=3, required=False, allow_null=True)
    ivr_key = serializers.IntegerField(min_value=0, max_value=9, required=False, allow_null=True)
    metadata = serializers.DictField(
        required=False, help_text=_("Your own data about the call, kept with it (a JSON object).")
    )

    class Meta:
        model = VoiceCall
        fields = (
            "kind", "template_id", "phone", "variables", "voice", "speed", "number_forward",
            "ivr_key", "max_repeat", "max_retry", "time_wait_to_ivr", "wait_retry", "send_at",
            "batch", "metadata",
        )  # fmt: skip

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
        """Run the model's eSMS validation and return the normalised values."""
        call = VoiceCall(**attrs)
        for name in ("voice", "number_forward", "batch"):
            if getattr(call, name) is None:
                setattr(call, name, "")
        try:
            call.validate_for_esms()
        except EsmsInputError as exc:
            field = _ERROR_FIELDS.get(exc.field, exc.field)
            if field not in self.fields:
                field = api_settings.NON_FIELD_ERRORS_KEY
            raise serializers.ValidationError({field: [str(exc.message)]}) from None
        normalised = {**attrs, "phone": call.phone}
        if "number_forward" in attrs:
            normalised["number_forward"] = call.number_forward
        return normalised


class VoiceCallBatchSerializer(serializers.Serializer[Any]):
    """Many calls at once, as one batch: all are created, or none when one row is wrong."""

    batch = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text=_("A tag for the batch; one is made up when left out."),
    )
    calls = VoiceCallCreateSerializer(  # type: ignore[call-arg]  # ListSerializer takes max_length
        many=True, allow_empty=False, max_length=MAX_BATCH_SIZE
    )
    allow_repeats = serializers.BooleanField(
        default=False,
        help_text=_("Call a number that appears more than once in the batch once per row."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Refuse a number already in the batch (compared normalised), unless allow_repeats."""
        if attrs["allow_repeats"]:
            return attrs
        repeated = repeats(row["phone"] for row in attrs["calls"])
        if repeated:
            message = _(
                "The same number as call %(index)d of this batch. Send “allow_repeats”: true "
                "to call it more than once."
            )
            raise serializers.ValidationError(
                {
                    "calls": {
                        str(index): {"phone": [message % {"index": earlier}]}
                        for index, earlier in repeated.items()
                    }
                }
            )
        return attrs


class VoiceCallBatchResultSerializer(serializers.Serializer[Any]):
    """The calls a batch request created."""

    batch = serializers.CharField()
    calls = VoiceCallSerializer(many=True)


class VoiceCallFilterSerializer(serializers.Serializer[Any]):
    """The list filters, read from the query string."""

    status = serializers.MultipleChoiceField(
        choices=CallStatus.choices,
        required=False,
        help_text=_("Only calls with this status; repeat for several."),
    )
    kind = serializers.ChoiceField(choices=CallKind.choices, required=False)
    batch = serializers.CharField(required=False, max_length=100)
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
