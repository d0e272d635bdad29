"""The calls API's views: create one call or a batch, list with filters, retrieve, cancel."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from .. import services
from ..conf import API_THROTTLE_SCOPE
from ..exceptions import EsmsInputError
from ..models import CampaignSource, VoiceCall
from ..states import CANCELABLE
from . import idempotency
from .campaign_serializers import campaign_url
from .language import RequestLanguageMixin
from .permissions import VoiceCallPermission, with_host_defaults
from .schema import SPECTACULAR
from .serializers import (
    OneCallCreateSerializer,
    VoiceCallBatchResultSerializer,
    VoiceCallBatchSerializer,
    VoiceCallFilterSerializer,
    VoiceCallSerializer,
    batch_row_errors,
    field_errors,
)
from .throttling import SPENDING_ACTIONS, PlaceCallsThrottle

if SPECTACULAR:
    from .schema import VoiceCallSchema

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class VoiceCallPagination(CursorPagination):
    """Newest first; a cursor stays stable while new calls arrive, and costs no COUNT(*)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class VoiceCallViewSet(
    RequestLanguageMixin,
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
        return with_host_defaults(VoiceCallPermission())

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
        for name in ("kind", "purpose", "batch", "phone", "campaign"):
            if name in values:
                queryset = queryset.filter(**{name: values[name]})
        if "created_after" in values:
            queryset = queryset.filter(created_at__gte=values["created_after"])
        if "created_before" in values:
            queryset = queryset.filter(created_at__lt=values["created_before"])
        return queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create calls; with an Idempotency-Key, a repeated request gets the first answer."""
        return idempotency.once(request, lambda: self._create(request.data))

    def _create(self, data: Any) -> Response:
        """Create one call, or many: a list of calls, or {"batch": ..., "calls": [...]}."""
        if isinstance(data, list):
            return self._create_batch({"calls": data})
        if isinstance(data, dict) and "calls" in data:
            return self._create_batch(data)
        serializer = OneCallCreateSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            call = services.create_call(created_by=self._creator(), **serializer.validated_data)
        except EsmsInputError as exc:  # its campaign was canceled since the check
            raise serializers.ValidationError(field_errors(exc, serializer.fields)) from None
        return Response(VoiceCallSerializer(call).data, status=status.HTTP_201_CREATED)

    def _create_batch(self, data: Any) -> Response:
        """Validate every row, then create them all as one campaign (services.create_calls)."""
        serializer = VoiceCallBatchSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        rows = [
            {key: value for key, value in row.items() if key != "batch"} for row in values["calls"]
        ]
        try:
            calls = services.create_calls(
                rows,
                campaign=values.get("campaign")
                or values.get("batch")
                or services.new_batch_name("api"),
                purpose=values.get("purpose"),
                frequency_cap=values.get("frequency_cap"),
                source=CampaignSource.API,
                created_by=self._creator(),
                allow_repeats=values["allow_repeats"],
            )
        except services.BulkCallError as exc:  # the serializer checks the same: a safety net
            errors = {str(row - 1): batch_row_errors(e) for row, e in exc.errors.items()}
            raise serializers.ValidationError({"calls": errors}) from None
        except EsmsInputError as exc:  # the campaign was canceled since the check
            raise serializers.ValidationError(field_errors(exc, serializer.fields)) from None
        campaign = calls[0].campaign  # the one create_calls made or joined (no query)
        if campaign is None:
            raise RuntimeError("services.create_calls() left its calls without a campaign")
        result = VoiceCallBatchResultSerializer(
            {
                "batch": campaign.name,
                "campaign": campaign.pk,
                "campaign_url": campaign_url(self.request, campaign),
                "calls": calls,
            }
        )
        return Response(result.data, status=status.HTTP_201_CREATED)

    def _creator(self) -> Any:
        """Return the user creating calls, or None for an anonymous client."""
        user = self.request.user
        return user if user and user.is_authenticated else None

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel a call that has not been sent yet; 409 when it is already on its way."""
        call = self.get_object()
        if services.cancel_call(call):
            call.refresh_from_db()
            return Response(VoiceCallSerializer(call).data)
        call.refresh_from_db(fields=["status"])
        if call.status in CANCELABLE:  # back to pending after a lost answer: eSMS may have it
            detail = _(
                "This call was sent to eSMS once already and may still ring: it cannot be canceled."
            )
        else:
            detail = _("Only a pending call can be canceled; this one is %(status)s.") % {
                "status": call.status
            }
        return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
