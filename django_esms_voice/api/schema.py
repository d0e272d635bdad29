"""The calls API's OpenAPI description, when drf-spectacular (the ``api`` extra) is installed."""

from __future__ import annotations

from typing import Any

from .idempotency import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LENGTH
from .serializers import (
    ErrorSerializer,
    VoiceCallBatchResultSerializer,
    VoiceCallBatchSerializer,
    VoiceCallCreateSerializer,
    VoiceCallFilterSerializer,
    VoiceCallSerializer,
)

try:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        PolymorphicProxySerializer,
    )
except ImportError:  # the "api" extra is not installed: no schema, the API works the same
    SPECTACULAR = False
else:
    SPECTACULAR = True


if SPECTACULAR:

    class VoiceCallSchema(AutoSchema):
        """The OpenAPI description of the calls API, without the host's DEFAULT_SCHEMA_CLASS."""

        _errors: dict[int, Any] = {
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input, by field."),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
            403: OpenApiResponse(ErrorSerializer, description="Permission denied."),
        }
        _not_found: dict[int, Any] = {
            404: OpenApiResponse(ErrorSerializer, description="No such call.")
        }

        def _action(self) -> str:
            return str(getattr(self.view, "action", "") or "")

        _descriptions: dict[str, str] = {
            "list": (
                "List calls, newest first, with filters. Paginated with a cursor: follow `next`. "
                "Needs the esms_voice.view_voicecall permission."
            ),
            "retrieve": ("One call by its uuid. Needs the esms_voice.view_voicecall permission."),
            "create": (
                "Create one call, or a batch: an object with `calls` (a list of calls) and an "
                "optional `batch` tag. A bare list of calls is accepted as a batch too. Every "
                "call is checked the way eSMS will check it; a batch is created whole or not at "
                "all. The calls are placed by the Celery workers once created. Needs the "
                "esms_voice.place_voicecall permission."
            ),
            "cancel": (
                "Cancel a call that has not been sent yet; 409 when it is already on its way. "
                "Needs the esms_voice.change_voicecall permission."
            ),
        }

        def get_description(self) -> str:  # type: ignore[override]
            """Describe each action and the permission it needs."""
            return self._descriptions.get(self._action()) or str(super().get_description())

        def get_tags(self) -> list[str]:
            """Group the operations under one tag."""
            return ["voice calls"]

        def get_override_parameters(self) -> list[Any]:
            """Document the list filters and create's Idempotency-Key header."""
            if self._action() == "list":
                return [VoiceCallFilterSerializer]
            if self._action() == "create":
                return [
                    OpenApiParameter(
                        IDEMPOTENCY_HEADER,
                        {"type": "string", "pattern": f"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"},
                        OpenApiParameter.HEADER,
                        description=(
                            "Any unique value (a UUID, say). A request repeated with the same "
                            "key gets the first answer back, with the header "
                            "Idempotent-Replayed: true, and creates nothing new."
                        ),
                    )
                ]
            return list(super().get_override_parameters())

        def get_request_serializer(self) -> Any:
            """Create takes one call or a batch; cancel takes no body."""
            if self._action() == "create":
                return PolymorphicProxySerializer(
                    component_name="VoiceCallCreateOrBatch",
                    serializers=[VoiceCallCreateSerializer, VoiceCallBatchSerializer],
                    resource_type_field_name=None,
                )
            if self._action() == "cancel":
                return None
            return super().get_request_serializer()

        def get_response_serializers(self) -> Any:
            """Every answer an action gives, errors included."""
            action = self._action()
            if action == "create":
                created = PolymorphicProxySerializer(
                    component_name="VoiceCallOrBatch",
                    serializers=[VoiceCallSerializer, VoiceCallBatchResultSerializer],
                    resource_type_field_name=None,
                )
                reused = OpenApiResponse(
                    ErrorSerializer, description="The Idempotency-Key was used for another body."
                )
                throttled = OpenApiResponse(ErrorSerializer, description="Too many requests.")
                return {201: created, **self._errors, 422: reused, 429: throttled}
            if action == "list":
                bad_cursor = OpenApiResponse(ErrorSerializer, description="Invalid cursor.")
                return {200: VoiceCallSerializer(many=True), **self._errors, 404: bad_cursor}
            if action == "retrieve":
                return {200: VoiceCallSerializer, **self._errors, **self._not_found}
            if action == "cancel":
                conflict = OpenApiResponse(ErrorSerializer, description="The call is not pending.")
                return {
                    200: VoiceCallSerializer,
                    409: conflict,
                    **self._errors,
                    **self._not_found,
                }
            return super().get_response_serializers()

        def get_examples(self) -> list[Any]:
            """Show a single call and a batch."""
            if self._action() != "create":
                return list(super().get_examples())
            return [
                OpenApiExample(
                    "A recording with an IVR key",
                    value={
                        "kind": "record",
                        "template_id": "12345",
                        "phone": "0901888484",
                        "ivr_key": 1,
                        "number_forward": "0912345678",
                    },
                    request_only=True,
                ),
                OpenApiExample(
                    "A batch of script calls",
                    value={
                        "batch": "reminders-2025-03-01",
                        "calls": [
                            {
                                "kind": "template",
                                "template_id": "678",
                                "phone": "0901888484",
                                "variables": ["Trung", "20000"],
                            }
                        ],
                    },
                    request_only=True,
                ),
            ]
