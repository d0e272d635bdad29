"""VoiceCall: one call to one phone, followed to its final result."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from .. import options, secrecy
from ..conf import default_purpose
from ..esms.payloads import RecordCallRequest, TemplateCallRequest
from ..esms.protocol import VOICES
from ..exceptions import EsmsInputError
from ..options import CallKind
from ..purposes import Purpose
from ..states import BILLABLE, FINAL, CallStatus, Hold


class VoiceCallQuerySet(models.QuerySet["VoiceCall"]):
    """Questions about many calls at once: what they cost."""

    def costs(self) -> dict[str, Any]:
        """What the calls cost: how many eSMS bills, the Price it reported, how many lack one.

        "unknown" calls count: eSMS placed and charged them, only their price is not known.
        """
        return self.filter(status__in=BILLABLE).aggregate(
            billed=Count("pk"),
            total=Coalesce(Sum("price"), Decimal(0)),
            unpriced=Count("pk", filter=Q(price__isnull=True)),
        )


class VoiceCall(models.Model):
    """One automated call to one phone number, followed to its final result."""

    uuid = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=CallKind.choices)
    template_id = models.CharField(
        _("recording or script id"),
        max_length=50,
        help_text=_("The id of the recording or script registered on account.esms.vn."),
    )
    variables = models.JSONField(_("script variables"), default=list, blank=True)
    secret_variables = models.BooleanField(
        _("secret script values"),
        default=False,
        help_text=_("For one-time passwords: never shown, wiped once eSMS has the call."),
    )
    voice = models.CharField(_("voice"), max_length=12, choices=list(VOICES.items()), blank=True)
    speed = models.SmallIntegerField(_("speed"), null=True, blank=True)
    number_forward = models.CharField(_("forward number"), max_length=16, blank=True)
    ivr_key = models.PositiveSmallIntegerField(_("IVR key"), null=True, blank=True)
    max_repeat = models.PositiveSmallIntegerField(_("repeats"), null=True, blank=True)
    max_retry = models.PositiveSmallIntegerField(_("redials"), null=True, blank=True)
    time_wait_to_ivr = models.PositiveSmallIntegerField(
        _("seconds to wait for the key"), null=True, blank=True
    )
    wait_retry = models.PositiveIntegerField(_("seconds between redials"), null=True, blank=True)
    send_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    phone = models.CharField(_("phone number"), max_length=16)

    status = models.CharField(
        _("status"), max_length=12, choices=CallStatus.choices, default=CallStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error_code = models.CharField(_("last error code"), max_length=32, blank=True)
    last_error_message = models.TextField(_("last error"), blank=True)
    smsid = models.CharField(_("eSMS id (SMSID)"), max_length=100, blank=True)

    call_status = models.CharField(_("eSMS call status"), max_length=40, blank=True)
    duration = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    ivr_pressed = models.CharField(_("key pressed"), max_length=20, blank=True)
    price = models.DecimalField(_("price"), max_digits=16, decimal_places=4, null=True, blank=True)
    sent_result = models.SmallIntegerField(_("sent result"), null=True, blank=True)
    cid = models.CharField(_("caller id"), max_length=40, blank=True)
    send_status = models.SmallIntegerField(_("eSMS send status"), null=True, blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("claimed by a worker"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("accepted by eSMS"), null=True, blank=True)
    last_polled_at = models.DateTimeField(_("last status poll"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # The foreign keys' own indexes are left out: each is a partial index in Meta (rows that
    # have one), so that the many rows without one cost no index write when a callback moves
    # them on (a status change rewrites every index entry of the row).
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        verbose_name=_("linked type"),
    )
    object_id = models.CharField(_("linked object id"), max_length=64, blank=True)
    content_object = GenericForeignKey("content_type", "object_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    event_fingerprints = models.JSONField(
        _("fingerprints of applied results"), default=list, blank=True, editable=False
    )
    batch = models.CharField(_("batch"), max_length=100, blank=True)
    campaign = models.ForeignKey(
        "esms_voice.Campaign",
        on_delete=models.PROTECT,  # calls are records of money spent: they outlive nothing
        null=True,
        blank=True,
        db_index=False,
        related_name="calls",
        verbose_name=_("campaign"),
    )
    hold = models.CharField(
        _("held"), max_length=16, choices=Hold.choices, blank=True, default=Hold.NONE
    )
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=default_purpose
    )
    metadata = models.JSONField(_("metadata"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="retries",
        verbose_name=_("retry of"),
    )

    objects = VoiceCallQuerySet.as_manager()

    class Meta:
        verbose_name = _("voice call")
        verbose_name_plural = _("voice calls")
        ordering = ("-created_at", "-id")
        permissions = [("place_voicecall", _("Can place voice calls (spends eSMS credit)"))]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="esms_voice_status_created"),
            models.Index(fields=["-created_at"], name="esms_voice_created"),
            models.Index(fields=["kind", "-created_at"], name="esms_voice_kind_created"),
            models.Index(fields=["batch"], name="esms_voice_batch", condition=~Q(batch="")),
            models.Index(fields=["phone"], name="esms_voice_phone"),
            models.Index(fields=["smsid"], name="esms_voice_smsid", condition=~Q(smsid="")),
            # Also the content_type foreign key's index (ContentType deletion, SET_NULL).
            models.Index(
                fields=["content_type", "object_id"],
                name="esms_voice_linked",
                condition=Q(content_type__isnull=False),
            ),
            # A campaign's progress (counts by status) and its pause, resume and cancel; and
            # its figures, read index-only: every column in it has few values, so PostgreSQL
            # stores each value once per page (deduplication: 7 MB at a million calls).
            models.Index(
                fields=["campaign", "status", "last_error_code", "ivr_pressed", "duration"],
                name="esms_voice_campaign_status",
                condition=Q(campaign__isnull=False),
            ),
            # A campaign's span (its first and last ended calls) and its pace, index-only.
            models.Index(
                fields=["campaign", "completed_at", "status"],
                name="esms_voice_campaign_done",
                condition=Q(campaign__isnull=False, completed_at__isnull=False),
            ),
            # Its ended calls by outcome, then when: the timeline's bars (a range each) and
            # its cost (a price cannot be deduplicated: it stays out of the index above).
            models.Index(
                fields=["campaign", "status", "completed_at", "price"],
                name="esms_voice_campaign_outcomes",
                condition=Q(campaign__isnull=False, completed_at__isnull=False),
            ),
            # Its billed calls still without a price: few, counted apart.
            models.Index(
                fields=["campaign"],
                name="esms_voice_campaign_unpriced",
                condition=Q(
                    campaign__isnull=False, price__isnull=True, status__in=sorted(BILLABLE)
                ),
            ),
            # The foreign keys' indexes: user deletion (SET_NULL) and a call's retries.
            models.Index(
                fields=["created_by"],
                name="esms_voice_created_by",
                condition=Q(created_by__isnull=False),
            ),
            models.Index(
                fields=["retry_of"], name="esms_voice_retry_of", condition=Q(retry_of__isnull=False)
            ),
            # The sweep's three queries, each over the few open calls only.
            models.Index(
                fields=["next_attempt_at"],
                name="esms_voice_sweep_pending",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["claimed_at"],
                name="esms_voice_sweep_submitting",
                condition=Q(status="submitting"),
            ),
            models.Index(
                fields=["last_polled_at", "submitted_at"],
                name="esms_voice_sweep_poll",
                condition=Q(status__in=["accepted", "in_progress"]),
            ),
            # The purge (services.retention): ended calls not anonymised yet, oldest first;
            # an anonymised call leaves it, so a second purge reads nothing twice.
            models.Index(
                fields=["completed_at"],
                name="esms_voice_call_identified",
                condition=Q(completed_at__isnull=False) & ~Q(phone__startswith="*"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.phone} ({self.get_status_display()})"

    @property
    def is_final(self) -> bool:
        """Whether the call has reached a final status."""
        return self.status in FINAL

    def build_request(
        self, callback_url: str | None = None
    ) -> RecordCallRequest | TemplateCallRequest:
        """Return the validated eSMS request for this call; raises EsmsInputError."""
        if self.secret_variables and secrecy.is_wiped(self.variables):
            raise EsmsInputError("variables", secrecy.GONE)
        return options.build_request(
            self.option_values(), request_id=str(self.uuid), callback_url=callback_url
        )

    def option_values(self) -> dict[str, Any]:
        """Return the call's options (options.OPTIONS) as a name → value mapping."""
        return {name: getattr(self, name) for name in options.NAMES}

    def clean(self) -> None:
        """Check the call as eSMS will (a ModelForm's hook); the error goes to its field."""
        try:
            values = options.validate(self.option_values())
        except EsmsInputError as exc:
            field = options.option_name(exc.field)
            field = field if field in {f.name for f in self._meta.fields} else "__all__"
            raise ValidationError({field: exc.message}) from None
        for name, value in values.items():
            setattr(self, name, value)  # normalised: the phone as 0901888484, ...
