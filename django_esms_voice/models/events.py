"""CallbackEvent: every callback delivery and status poll, stored raw before it is applied."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..moments import local_time
from .calls import VoiceCall


class EventSource(models.TextChoices):
    """Where a result came from."""

    CALLBACK = "callback", _("Callback from eSMS")
    POLL = "poll", _("Status poll (GetSendStatus)")


class EventOutcome(models.TextChoices):
    """What became of a stored callback or poll."""

    RECEIVED = "received", _("Received, not processed yet")
    APPLIED = "applied", _("Applied")
    MERGED = "merged", _("Merged late fields")
    DUPLICATE = "duplicate", _("Duplicate")
    OUT_OF_ORDER = "out_of_order", _("Out of order (ignored)")
    CONFLICT = "conflict", _("Conflicting result (ignored)")
    CORRECTED = "corrected", _("Corrected a final result")
    MISMATCH = "mismatch", _("ReferenceId does not match the call")
    INVALID = "invalid", _("Invalid")
    ERROR = "error", _("Error while processing")
    NOT_KNOWN_YET = "not_known_yet", _("Not known to eSMS yet")  # a poll answered 105


class CallbackEvent(models.Model):
    """One callback delivery or status poll, stored raw before it is applied."""

    # Keyed on the call's uuid: the callback URL carries it, so storing an event needs no
    # lookup, and an unknown uuid fails the foreign key instead of storing junk.
    call = models.ForeignKey(
        VoiceCall,
        to_field="uuid",
        db_column="call_uuid",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("call"),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=EventSource.choices, default=EventSource.CALLBACK
    )
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    remote_addr = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    method = models.CharField(_("HTTP method"), max_length=8, blank=True)
    raw = models.TextField(_("raw query or answer"), blank=True)
    parsed = models.JSONField(
        _("parsed fields"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    fingerprint = models.CharField(_("fingerprint"), max_length=64, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=14, choices=EventOutcome.choices, default=EventOutcome.RECEIVED
    )
    old_status = models.CharField(_("status before"), max_length=12, blank=True)
    new_status = models.CharField(_("status after"), max_length=12, blank=True)
    error = models.TextField(_("processing error"), blank=True)
    # services.reprocess_event judges a failed event's raw again and updates this row.
    reprocessed_at = models.DateTimeField(_("last reprocessed"), null=True, blank=True)
    reprocess_count = models.PositiveIntegerField(_("times reprocessed"), default=0)

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        ordering = ("-received_at", "-id")
        indexes = [
            models.Index(fields=["-received_at"], name="esms_voice_event_received"),
            models.Index(fields=["outcome", "-received_at"], name="esms_voice_event_outcome"),
            # The purge (services.retention): events still holding raw text or an address.
            models.Index(
                fields=["received_at"],
                name="esms_voice_event_raw",
                condition=~Q(raw="") | Q(remote_addr__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        when = local_time(self.received_at)
        return f"{self.get_source_display()} {when} ({self.get_outcome_display()})"

    @classmethod
    def insert_fields(cls) -> tuple[models.Field[Any, Any], ...]:
        """The columns an INSERT fills: every concrete one but the primary key."""
        return tuple(
            f
            for f in cls._meta.concrete_fields
            if isinstance(f, models.Field) and not f.primary_key
        )
