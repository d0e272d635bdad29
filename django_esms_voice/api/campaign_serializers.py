"""DRF serializers of the campaign and account endpoints: what they show, the list filters."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.request import Request

from ..esms.protocol import describe_code
from ..esms.redaction import redact
from ..models import AccountPause, Campaign
from ..purposes import Purpose
from ..services.account import ADVICE
from ..services.reporting import Figures
from ..states import CampaignState


def api_url(
    request: Request | None, name: str, *, query: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    """Return an absolute URL of this API, in the namespace the request came through."""
    namespace = request.resolver_match.namespace if request and request.resolver_match else ""
    url = reverse(f"{namespace}:{name}" if namespace else name, kwargs=kwargs)
    if query:
        url = f"{url}?{urlencode(query)}"
    return request.build_absolute_uri(url) if request else url


def campaign_url(request: Request | None, campaign: Campaign | int) -> str:
    """Return the URL of a campaign's endpoint."""
    return api_url(request, "campaign-detail", pk=getattr(campaign, "pk", campaign))


class CampaignSerializer(serializers.ModelSerializer[Campaign]):
    """A campaign as the list shows it: what is said, why, who made it, where it is."""

    url = serializers.SerializerMethodField(help_text=_("This campaign's endpoint."))
    calls_url = serializers.SerializerMethodField(help_text=_("Its calls, on the calls list."))
    created_by = serializers.CharField(
        source="created_by.get_username",
        read_only=True,
        allow_null=True,
        help_text=_("The username of who made it; null when made by code."),
    )
    options = serializers.DictField(
        read_only=True,
        help_text=_("The call options every call of the campaign shares (voice, IVR key...)."),
    )

    class Meta:
        model = Campaign
        fields: tuple[str, ...] = (
            "id", "url", "name", "kind", "template_id", "options", "purpose", "frequency_cap",
            "state",
            "source", "created_by", "created_at", "updated_at", "paused_at", "finished_at",
            "calls_url",
        )  # fmt: skip
        read_only_fields: tuple[str, ...] = fields

    def get_url(self, campaign: Campaign) -> str:
        """Return the campaign's endpoint."""
        return campaign_url(self.context.get("request"), campaign)

    def get_calls_url(self, campaign: Campaign) -> str:
        """Return the calls list filtered to the campaign."""
        return api_url(self.context.get("request"), "call-list", query={"campaign": campaign.pk})


class ErrorGroupSerializer(serializers.Serializer[Any]):
    """Calls that ended on one error code: how many, what it means, what to do."""

    code = serializers.CharField(help_text=_("The eSMS code, or the app's name of the failure."))
    count = serializers.IntegerField()
    meaning = serializers.CharField()
    advice = serializers.CharField()


class CampaignFiguresSerializer(serializers.Serializer[Any]):
    """What a campaign's calls did (services.reporting.Figures), read by the view beforehand."""

    total = serializers.IntegerField(help_text=_("Its calls."))
    by_status = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Its calls by status, every status included.")
    )
    answered = serializers.IntegerField()
    no_answer = serializers.IntegerField()
    failed = serializers.IntegerField()
    refused = serializers.IntegerField(help_text=_("Refused by eSMS (status rejected)."))
    unknown = serializers.IntegerField(help_text=_("Charged, result unknown."))
    # DRF's metaclass takes declared fields off the class: Serializer.errors stays as it is.
    errors = serializers.IntegerField(  # type: ignore[assignment]
        help_text=_("Given up by the app (status error).")
    )
    canceled = serializers.IntegerField()
    open = serializers.IntegerField(help_text=_("Not finished yet."))
    finished = serializers.IntegerField()
    answer_rate = serializers.FloatField(
        allow_null=True, help_text=_("Answered ÷ (answered + no answer + failed).")
    )
    key_press_rate = serializers.FloatField(
        allow_null=True, help_text=_("Answered calls with a key pressed ÷ answered.")
    )
    average_duration = serializers.FloatField(
        allow_null=True, help_text=_("Seconds, of the answered calls.")
    )
    total_duration = serializers.IntegerField(help_text=_("Seconds."))
    total_cost = serializers.DecimalField(
        max_digits=20, decimal_places=4, help_text=_("In đồng, as eSMS priced the calls.")
    )
    billed = serializers.IntegerField(help_text=_("Calls eSMS bills for."))
    unpriced = serializers.IntegerField(help_text=_("Billed calls without a price yet."))
    per_minute = serializers.FloatField(help_text=_("Calls finished per minute, lately."))
    eta_seconds = serializers.SerializerMethodField(
        help_text=_("Seconds to finish the open calls at that pace; null when unknown.")
    )
    error_groups = ErrorGroupSerializer(many=True)
    first_completed_at = serializers.DateTimeField(allow_null=True)
    last_completed_at = serializers.DateTimeField(allow_null=True)

    def get_attribute(self, instance: Any) -> Figures:
        """Return the figures the view read and gave in the context (one query, not here)."""
        figures: Figures = self.context["figures"]
        return figures

    def get_eta_seconds(self, figures: Figures) -> int | None:
        """Return the time to finish in whole seconds."""
        return None if figures.eta is None else round(figures.eta.total_seconds())


class CampaignDetailSerializer(CampaignSerializer):
    """A campaign with the figures of its calls (given in the context as "figures")."""

    figures = CampaignFiguresSerializer(
        read_only=True,
        help_text=_("What its calls did: counts by status, rates, cost, pace, errors."),
    )

    class Meta(CampaignSerializer.Meta):
        fields = (*CampaignSerializer.Meta.fields, "figures")
        read_only_fields = fields


class CampaignPauseSerializer(serializers.Serializer[Any]):
    """A pause's answer: the campaign, and how many calls it held."""

    campaign = CampaignDetailSerializer(read_only=True)
    held = serializers.IntegerField(help_text=_("How many calls not sent yet are now held."))


class CampaignResumeSerializer(serializers.Serializer[Any]):
    """A resume's answer: the campaign, and how many held calls it released."""

    campaign = CampaignDetailSerializer(read_only=True)
    released = serializers.IntegerField(
        help_text=_("How many held calls were released to the workers.")
    )


class CampaignCancelSerializer(serializers.Serializer[Any]):
    """A cancel's answer: the campaign, and how many calls it canceled."""

    campaign = CampaignDetailSerializer(read_only=True)
    canceled = serializers.IntegerField(
        help_text=_("How many calls never sent were canceled; sent ones finish.")
    )


class CampaignFilterSerializer(serializers.Serializer[Any]):
    """The campaign list's filters, read from the query string."""

    state = serializers.MultipleChoiceField(
        choices=CampaignState.choices,
        required=False,
        help_text=_("Only campaigns in this state; repeat for several."),
    )
    purpose = serializers.MultipleChoiceField(
        choices=Purpose.choices,
        required=False,
        help_text=_("Only campaigns with this purpose; repeat for several."),
    )


class BalanceCheckSerializer(serializers.Serializer[Any]):
    """The last balance check (GetBalance) made while placement was paused."""

    at = serializers.DateTimeField(help_text=_("When it was made."))
    balance = serializers.DecimalField(
        max_digits=16,
        decimal_places=4,
        allow_null=True,
        help_text=_("The balance it read, in đồng; empty when it failed."),
    )
    error = serializers.CharField(help_text=_("Why it failed; empty when it did not."))


class AccountSerializer(serializers.Serializer[Any]):
    """Whether placement is paused for the eSMS account, why, and what to do."""

    paused = serializers.BooleanField(help_text=_("Whether no call is sent until it resumes."))
    code = serializers.CharField(
        allow_null=True, help_text=_("The eSMS code that paused it (101, 102, 103 or 140).")
    )
    meaning = serializers.CharField(allow_null=True, help_text=_("What the code means."))
    since = serializers.DateTimeField(allow_null=True, help_text=_("When placement paused."))
    advice = serializers.CharField(allow_null=True, help_text=_("What to do about it."))
    last_balance_check = BalanceCheckSerializer(allow_null=True)


def account_state(pause: AccountPause | None) -> dict[str, Any]:
    """Describe the account pause in force (None: placement runs) for AccountSerializer."""
    if pause is None:
        return {
            "paused": False,
            "code": None,
            "meaning": None,
            "since": None,
            "advice": None,
            "last_balance_check": None,
        }
    check = None
    if pause.last_probe_at is not None:
        check = {
            "at": pause.last_probe_at,
            "balance": pause.last_balance,
            "error": redact(pause.last_probe_error),  # stored redacted: masked again, to be sure
        }
    return {
        "paused": True,
        "code": pause.code,
        "meaning": str(describe_code(pause.code).description),
        "since": pause.started_at,
        "advice": str(ADVICE.get(pause.code, "")),
        "last_balance_check": check,
    }
