"""The campaign and account views: list and read campaigns, pause, resume, cancel; the account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..exceptions import CampaignStateError
from ..models import Campaign
from ..policies import open_pause
from ..services.reporting import campaign_figures
from .campaign_serializers import (
    AccountSerializer,
    CampaignCancelSerializer,
    CampaignDetailSerializer,
    CampaignFilterSerializer,
    CampaignPauseSerializer,
    CampaignResumeSerializer,
    CampaignSerializer,
    account_state,
)
from .language import RequestLanguageMixin
from .permissions import AccountPermission, CampaignPermission, with_host_defaults
from .schema import SPECTACULAR
from .views import VoiceCallPagination

if SPECTACULAR:
    from .schema import AccountSchema, CampaignSchema


class CampaignAction(NamedTuple):
    """A campaign action: the service, its answer and the count it names."""

    run: Callable[[Campaign], int]
    answer: type[serializers.Serializer[Any]]
    counted: str


ACTIONS = {
    "pause": CampaignAction(services.pause_campaign, CampaignPauseSerializer, "held"),
    "resume": CampaignAction(services.resume_campaign, CampaignResumeSerializer, "released"),
    "cancel": CampaignAction(services.cancel_campaign, CampaignCancelSerializer, "canceled"),
}


class CampaignViewSet(
    RequestLanguageMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Campaign],
):
    """Campaigns: list, retrieve with their figures, pause, resume, cancel."""

    queryset = Campaign.objects.select_related("created_by")
    serializer_class = CampaignSerializer
    lookup_value_regex = "[0-9]{1,18}"
    pagination_class = VoiceCallPagination
    if SPECTACULAR:
        schema = CampaignSchema()

    def get_permissions(self) -> list[BasePermission]:
        """The host project's DEFAULT_PERMISSION_CLASSES, plus the model permissions."""
        return with_host_defaults(CampaignPermission())

    def get_queryset(self) -> QuerySet[Campaign]:
        """Apply the list filters from the query string."""
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        filters = CampaignFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        for name in ("state", "purpose"):
            if filters.validated_data.get(name):
                queryset = queryset.filter(**{f"{name}__in": sorted(filters.validated_data[name])})
        return queryset

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One campaign, with the figures of its calls."""
        return Response(self._detail(self.get_object()))

    def _detail(self, campaign: Campaign) -> Any:
        """Return a campaign's representation with its counts."""
        return CampaignDetailSerializer(campaign, context=self._figured(campaign)).data

    def _figured(self, campaign: Campaign) -> dict[str, Any]:
        """Return the serializer context with the campaign's figures (one query)."""
        return {**self.get_serializer_context(), "figures": campaign_figures(campaign)}

    def _run(self, name: str) -> Response:
        """Run a campaign action; 409 when the campaign's state does not allow it."""
        todo = ACTIONS[name]
        campaign = self.get_object()
        try:
            moved = todo.run(campaign)
        except CampaignStateError as refused:
            return Response({"detail": str(refused.message)}, status=status.HTTP_409_CONFLICT)
        campaign.refresh_from_db()
        answer = todo.answer(
            {"campaign": campaign, todo.counted: moved}, context=self._figured(campaign)
        )
        return Response(answer.data)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Pause a running campaign: its calls not sent yet are held."""
        return self._run("pause")

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Resume a paused campaign: its held calls go to the workers."""
        return self._run("resume")

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel a running or paused campaign: its calls never sent are canceled."""
        return self._run("cancel")


class AccountViewSet(RequestLanguageMixin, viewsets.ViewSet):
    """The eSMS account: whether placement is paused, why, what to do; resume it."""

    if SPECTACULAR:
        schema = AccountSchema()

    def get_permissions(self) -> list[BasePermission]:
        """The host project's DEFAULT_PERMISSION_CLASSES, plus the model permissions."""
        return with_host_defaults(AccountPermission())

    def list(self, request: Request) -> Response:
        """Whether placement is paused for the account, and what to do about it."""
        return Response(AccountSerializer(account_state(open_pause())).data)

    @action(detail=False, methods=["post"])
    def resume(self, request: Request) -> Response:
        """Resume placement after fixing what paused it; 409 when it is not paused."""
        user = request.user if request.user.is_authenticated else None
        if services.resume_placement(user=user) is None:
            detail = _("Placement is not paused: there is nothing to resume.")
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return Response(AccountSerializer(account_state(open_pause())).data)
