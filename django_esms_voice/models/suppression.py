"""Numbers never to call (Decree 91/2020/ND-CP): opted out, complained, on the national list."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..esms.phone import normalize_phone


class SuppressionReason(models.TextChoices):
    """Why a number is never called."""

    OPTED_OUT = "opted_out", _("Opted out")
    COMPLAINED = "complained", _("Complained")
    NATIONAL_DNC = "national_dnc", _("On the national do-not-call list")
    OTHER = "other", _("Other")


class Suppression(models.Model):
    """A number calls of the checked purposes never go to (ESMS_VOICE['SUPPRESSION_PURPOSES'])."""

    # Normalised as calls store it (0901888484), so every spelling of a number is one entry.
    phone = models.CharField(_("phone number"), max_length=16, unique=True)
    reason = models.CharField(
        _("reason"),
        max_length=16,
        choices=SuppressionReason.choices,
        default=SuppressionReason.OPTED_OUT,
    )
    source = models.CharField(
        _("source"),
        max_length=200,
        blank=True,
        help_text=_("Where the entry came from: a form, a file, the API, a complaint ticket."),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("suppressed number")
        verbose_name_plural = _("suppression list")
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"{self.phone} ({self.get_reason_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Store the number normalised: +84 90 188 8484 and 0901888484 are one entry."""
        self.phone = normalize_phone(self.phone)
        super().save(*args, **kwargs)
