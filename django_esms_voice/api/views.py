"""An optional DRF API for calls: create one or a batch, list with filters, retrieve, cancel.

Include it with ``path("api/esms-voice/", include("django_esms_voice.api_urls"))``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from . import idempotency, services
from .conf import API_THROTTLE_RATE, API_THROTTLE_SCOPE
from .models import VoiceCall
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

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
#: The actions that spend eSMS credit: throttled, and idempotent with the header below.
SPENDING_ACTIONS = frozenset({"create"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class PlaceCallsThrottle(ScopedRateThrottle):
    """Limit each user's requests that spend credit; API_THROTTLE_RATE unless the host sets one."""

    scope_attr = "place_throttle_scope"

    def get_rate(self) -> str | None:
        """The host's rate for the scope (None: unlimited), else the app's default."""
        # Read now: SimpleRateThrottle.THROTTLE_RATES is read once, when DRF is imported.
        rates: dict[str, str | None] = api_settings.DEFAULT_THROTTLE_RATES  # type: ignore[assignment]
        return rates.get(str(self.scope), API_THROTTLE_RATE)


def _valid_idempotency_key(key: str) -> bool:
    """Whether a header value can be a key: 1 to 255 visible ASCII characters."""
    return 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and all("!" <= ch <= "~" for ch in key)


class VoiceCallPermission(BasePermission):
    """Model permissions per action: reading needs view, creating needs place (spends money)."""

    #: The codenames (in the esms_voice app) each action needs.
    action_permissions: dict[str, tuple[str, ...]] = {
        "list": ("view_voicecall",),
        "retrieve": ("view_voicecall",),
        "create": ("place_voicecall",),
        "cancel": ("change_voicecall",),
    }

    def has_permission(self, request: Request, view: APIView) -> bool:
        """Let authenticated users with the action's permissions through."""
        user = request.user
        if not user or not user.is_authenticated:
            return False
        app_label = VoiceCall._meta.app_label
        needed = self.action_permissions.get(getattr(view, "action", None) or "", ())
        return user.has_perms([f"{app_label}.{codename}" for codename in needed])


class VoiceCallPagination(CursorPagination):
    """Newest first; a cursor stays stable while new calls arrive, and costs no COUNT(*)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


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


class VoiceCallViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[VoiceCall],
):
    """Voice calls: create (one, or a batch), list, retrieve by uuid, cancel."""

    queryset = VoiceCall.objects.select_related("retry_of", "content_type")
    serializer_class = VoiceCallSerializer
    lookup_field = "uuid"
    lookup_value_regex = UUID_PATTERN
    pagination_class = VoiceCallPagination
    parser_classes = [JSONParser]
    #: The DRF throttle scope of the actions that spend credit (PlaceCallsThrottle).
    place_throttle_scope = API_THROTTLE_SCOPE
    if SPECTACULAR:
        schema = VoiceCallSchema()

    def get_permissions(self) -> list[BasePermission]:
        """The host project's DEFAULT_PERMISSION_CLASSES, plus the model permissions."""
        classes: list[type[BasePermission]] = api_settings.DEFAULT_PERMISSION_CLASSES  # type: ignore[assignment]
        defaults = [permission() for permission in classes]
        return [*defaults, VoiceCallPermission()]

    def get_throttles(self) -> list[BaseThrottle]:
        """The host project's DEFAULT_THROTTLE_CLASSES, plus the spending limit on create."""
        throttles = list(super().get_throttles())
        if self.action in SPENDING_ACTIONS:
            throttles.append(PlaceCallsThrottle())
        return throttles

    def get_queryset(self) -> QuerySet[VoiceCall]:
        """Apply the list filters from the query string."""
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        filters = VoiceCallFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        if values.get("status"):
            queryset = queryset.filter(status__in=sorted(values["status"]))
        for name in ("kind", "batch", "phone"):
            if name in values:
                queryset = queryset.filter(**{name: values[name]})
        if "created_after" in values:
            queryset = queryset.filter(created_at__gte=values["created_after"])
        if "created_before" in values:
            queryset = queryset.filter(created_at__lt=values["created_before"])
        return queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create calls; with an Idempotency-Key, a repeated request gets the first answer."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return self._create(request.data)
        if not _valid_idempotency_key(key):
            detail = _("The %(header)s header must be 1 to %(max)d visible ASCII characters.") % {
                "header": IDEMPOTENCY_HEADER,
                "max": MAX_IDEMPOTENCY_KEY_LENGTH,
            }
            return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        digest = idempotency.fingerprint(request.data)
        with transaction.atomic():
            first, fresh = idempotency.claim(f"api:{request.user.pk}", key, fingerprint=digest)
            if fresh:
                response = self._create(request.data)
                first.response_status, first.response_body = response.status_code, response.data
                first.save(update_fields=["response_status", "response_body"])
                return response
        if first.fingerprint != digest:
            detail = _(
                "This %(header)s was already used for another request: use a new key for "
                "a new request."
            )
            return Response(
                {"detail": detail % {"header": IDEMPOTENCY_HEADER}},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return Response(
            first.response_body, status=first.response_status, headers={REPLAYED_HEADER: "true"}
        )

    def _create(self, data: Any) -> Response:
        """Create one call, or many: a list of calls, or {"batch": ..., "calls": [...]}."""
        if isinstance(data, list):
            return self._create_batch({"calls": data})
        if isinstance(data, dict) and "calls" in data:
            return self._create_batch(data)
        serializer = VoiceCallCreateSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        call = services.create_call(created_by=self._creator(), **serializer.validated_data)
        return Response(VoiceCallSerializer(call).data, status=status.HTTP_201_CREATED)

    def _create_batch(self, data: Any) -> Response:
        """Validate every row, then create them all as one batch (services.create_calls)."""
        serializer = VoiceCallBatchSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        batch = serializer.validated_data.get("batch") or services.new_batch_name("api")
        rows = [
            {key: value for key, value in row.items() if key != "batch"}
            for row in serializer.validated_data["calls"]
        ]
        try:
            calls = services.create_calls(rows, batch=batch, created_by=self._creator())
        except services.BulkCallError as exc:  # the serializer checks the same: a safety net
            errors = {str(row): {e.field: [str(e.message)]} for row, e in exc.errors.items()}
            raise serializers.ValidationError({"calls": errors}) from None
        result = VoiceCallBatchResultSerializer({"batch": batch, "calls": calls})
        return Response(result.data, status=status.HTTP_201_CREATED)

    def _creator(self) -> Any:
        """Return the user creating calls, or None for an anonymous client."""
        user = self.request.user
        return user if user and user.is_authenticated else None

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel a call that has not been sent yet; 409 when it is already on its way."""
        call = self.get_object()
        if not services.cancel_call(call):
            call.refresh_from_db(fields=["status"])
            return Response(
                {
                    "detail": _("Only a pending call can be canceled; this one is %(status)s.")
                    % {"status": call.status}
                },
                status=status.HTTP_409_CONFLICT,
            )
        call.refresh_from_db()
        return Response(VoiceCallSerializer(call).data)


def only_this_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: keep the calls API's endpoints only."""
    return [e for e in endpoints if issubclass(getattr(e[3], "cls", object), VoiceCallViewSet)]
