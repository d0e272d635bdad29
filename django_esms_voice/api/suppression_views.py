"""The suppression list's views: list with filters, add one or many numbers, remove one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..esms.phone import normalize_phone
from ..exceptions import InvalidPhoneNumber
from ..models import Suppression
from .language import RequestLanguageMixin
from .permissions import SuppressionPermission, with_host_defaults
from .schema import SPECTACULAR
from .suppression_serializers import (
    SuppressionBatchResultSerializer,
    SuppressionBatchSerializer,
    SuppressionCreateSerializer,
    SuppressionFilterSerializer,
    SuppressionSerializer,
)
from .views import VoiceCallPagination

if SPECTACULAR:
    from .schema import SuppressionSchema


class SuppressionViewSet(
    RequestLanguageMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Suppression],
):
    """The suppression list: list, add (one or many), remove by number in any spelling."""

    queryset = Suppression.objects.select_related("added_by")
    serializer_class = SuppressionSerializer
    lookup_field = "phone"
    lookup_value_regex = "[^/]+"
    pagination_class = VoiceCallPagination
    parser_classes = [JSONParser]
    if SPECTACULAR:
        schema = SuppressionSchema()

    def get_permissions(self) -> list[BasePermission]:
        """The host project's DEFAULT_PERMISSION_CLASSES, plus the model permissions."""
        return with_host_defaults(SuppressionPermission())

    def get_queryset(self) -> QuerySet[Suppression]:
        """Apply the list filters from the query string."""
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        filters = SuppressionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        for name in ("reason", "phone"):
            if name in filters.validated_data:
                queryset = queryset.filter(**{name: filters.validated_data[name]})
        return queryset

    def get_object(self) -> Suppression:
        """The entry of the number in the URL, in any spelling; 404 when it is not listed."""
        try:
            phone = normalize_phone(self.kwargs[self.lookup_field])
        except InvalidPhoneNumber:
            raise Http404 from None
        entry = self.get_queryset().filter(phone=phone).first()
        if entry is None:
            raise Http404
        self.check_object_permissions(self.request, entry)
        return entry

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add one number ({"phone": ...}), or many ({"numbers": [...]}, all or none)."""
        if isinstance(request.data, dict) and "numbers" in request.data:
            return self._create_many(request.data)
        serializer = SuppressionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        listed = Suppression.objects.filter(phone=values["phone"]).exists()
        entry = services.suppress(added_by=self._user(), **values)
        answer = status.HTTP_200_OK if listed else status.HTTP_201_CREATED
        return Response(SuppressionSerializer(entry).data, status=answer)

    def _create_many(self, data: Any) -> Response:
        """Check every number; when one is wrong, say which and why and add none."""
        serializer = SuppressionBatchSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        report = services.check_suppressions(values["numbers"])
        if report.problems:
            errors = {str(p.line - 1): [p.error] for p in report.problems}
            raise serializers.ValidationError({"numbers": errors})
        done = services.import_suppressions(
            [number for _line, number in report.new],
            reason=values["reason"],
            source=values["source"],
            added_by=self._user(),
        )
        result = SuppressionBatchResultSerializer(
            {
                "created": done.created,
                "already_listed": len(report.already_listed) + len(done.already_listed),
            }
        )
        return Response(result.data, status=status.HTTP_201_CREATED)

    def _user(self) -> Any:
        """Return the user adding numbers, or None for an anonymous client."""
        user = self.request.user
        return user if user and user.is_authenticated else None
