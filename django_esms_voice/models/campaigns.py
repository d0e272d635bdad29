"""Campaign: many calls made together, paused, resumed or canceled as one piece of work."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..options import CallKind
from ..purposes import Purpose
from ..states import CampaignState


class CampaignSource(models.TextChoices):
    """What made a campaign."""

    CALL_MANY = "call_many", _("Call many (admin)")
    HOST_ACTION = "host_action", _("Admin action on your records")
    API = "api", _("API")
    CODE = "code", _("Code (services.create_calls)")
    BATCH = "batch", _("A batch made before campaigns existed")


class Campaign(models.Model):
    """A named set of calls made together: what they say, why, who made it, where it is."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=CallKind.choices)
    template_id = models.CharField(_("recording or script id"), max_length=50, blank=True)
    #: The options every call of the campaign shares (voice, speed, IVR key, schedule...).
    options = models.JSONField(_("options"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.CUSTOMER_CARE
    )
    frequency_cap = models.PositiveIntegerField(
        _("calls per number"),
        null=True,
        blank=True,
        help_text=_(
            "At most this many calls to one number in the purpose's period (24 hours by "
            "default). Empty: the purpose's cap (FREQUENCY_CAPS); 0: no cap, the recipients "
            "agreed to more."
        ),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=CampaignState.choices, default=CampaignState.RUNNING
    )
    source = models.CharField(
        _("made by"), max_length=12, choices=CampaignSource.choices, default=CampaignSource.CODE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ("-created_at", "-id")
        permissions = [
            ("run_campaign", _("Can pause, resume and cancel campaigns")),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="esms_voice_campaign_created"),
            models.Index(fields=["name"], name="esms_voice_campaign_name"),
            models.Index(
                fields=["state"],
                name="esms_voice_campaign_open",
                condition=models.Q(state__in=["running", "paused"]),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        """Whether calls of the campaign may still be placed (running or paused)."""
        return self.state in (CampaignState.RUNNING, CampaignState.PAUSED)

    def option_values(self) -> dict[str, Any]:
        """The options its calls share, with the kind and the recording or script."""
        return {**self.options, "kind": self.kind, "template_id": self.template_id}
