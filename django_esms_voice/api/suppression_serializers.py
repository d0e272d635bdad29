"""DRF serializers of the suppression list: an entry, adding one or many, the list filters."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..esms.phone import normalize_phone
from ..exceptions import InvalidPhoneNumber
from ..models import Suppression, SuppressionReason

#: Most numbers one request may add.
MAX_NUMBERS = 10_000


def normalized(value: str) -> str:
    """Return a number normalised (0901888484), or raise the field's validation error."""
    try:
        return normalize_phone(value)
    except InvalidPhoneNumber as exc:
        raise serializers.ValidationError(str(exc.message), code="invalid") from None


class SuppressionSerializer(serializers.ModelSerializer[Suppression]):
    """A number on the list: why, from where, who added it and when."""

    added_by = serializers.CharField(
        source="added_by.get_username",
        read_only=True,
        allow_null=True,
        help_text=_("The username of who added it; null when added by code."),
    )
    # Read-only model fields lose allow_blank, and the schema would not allow "".
    source = serializers.CharField(read_only=True, allow_blank=True)  # type: ignore[assignment]

    class Meta:
        model = Suppression
        fields: tuple[str, ...] = ("phone", "reason", "source", "added_by", "created_at")
        read_only_fields: tuple[str, ...] = fields


class SuppressionCreateSerializer(serializers.Serializer[Any]):
    """One number to add, in any spelling."""

    phone = serializers.CharField(max_length=40)
    reason = serializers.ChoiceField(
        choices=SuppressionReason.choices, default=SuppressionReason.OPTED_OUT
    )
    # A field named like Field.source: the serializer metaclass takes it out of the class.
    source = serializers.CharField(max_length=200, allow_blank=True, default="")  # type: ignore[assignment]

    def validate_phone(self, value: str) -> str:
        """Normalise the number."""
        return normalized(value)


class SuppressionBatchSerializer(serializers.Serializer[Any]):
    """Many numbers to add with one reason; every one is checked before any is added."""

    numbers = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=MAX_NUMBERS,
        help_text=_("The numbers, in any spelling; a number listed already is left as it is."),
    )
    reason = serializers.ChoiceField(
        choices=SuppressionReason.choices, default=SuppressionReason.OPTED_OUT
    )
    # A field named like Field.source: the serializer metaclass takes it out of the class.
    source = serializers.CharField(max_length=200, allow_blank=True, default="")  # type: ignore[assignment]


class SuppressionBatchResultSerializer(serializers.Serializer[Any]):
    """What adding many numbers did."""

    created = serializers.IntegerField(help_text=_("How many numbers were added."))
    already_listed = serializers.IntegerField(
        help_text=_("How many were on the list already (left as they were).")
    )


class SuppressionFilterSerializer(serializers.Serializer[Any]):
    """The list's filters, from the query string."""

    reason = serializers.ChoiceField(choices=SuppressionReason.choices, required=False)
    phone = serializers.CharField(
        max_length=40, required=False, help_text=_("A number, in any spelling.")
    )

    def validate_phone(self, value: str) -> str:
        """Normalise the number."""
        return normalized(value)
