"""AccountPause: placement stopped for the whole eSMS account (balance, keys, price table, IP)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ResumedBy(models.TextChoices):
    """What ended an account pause."""

    OPERATOR = "operator", _("An operator")
    BALANCE_PROBE = "balance_probe", _("The balance check (balance back above the threshold)")


class AccountPause(models.Model):
    """eSMS refused a call for a reason of the account: no call is sent until it ends.

    At most one is open (ended_at empty) at a time; the claim of every call checks for it.
    """

    code = models.CharField(_("eSMS code"), max_length=8)
    message = models.TextField(_("eSMS message"), blank=True)
    call = models.ForeignKey(
        "esms_voice.VoiceCall",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("the call that met it"),
    )
    started_at = models.DateTimeField(_("paused at"), auto_now_add=True)
    #: True while open, NULL once ended: the unique constraint allows one open pause only.
    active = models.BooleanField(_("open"), null=True, default=True)
    ended_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    ended_by = models.CharField(
        _("resumed by"), max_length=16, choices=ResumedBy.choices, blank=True
    )
    ended_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resumed by user"),
    )
    last_probe_at = models.DateTimeField(_("last balance check"), null=True, blank=True)
    last_balance = models.DecimalField(
        _("balance at the last check"), max_digits=16, decimal_places=4, null=True, blank=True
    )
    last_probe_error = models.TextField(_("last balance check error"), blank=True)

    class Meta:
        verbose_name = _("account pause")
        verbose_name_plural = _("account pauses")
        ordering = ("-started_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["active"], name="esms_voice_one_open_account_pause"),
        ]

    def __str__(self) -> str:
        return f"eSMS {self.code} ({self.started_at:%Y-%m-%d %H:%M})"

    @property
    def is_open(self) -> bool:
        """Whether placement is still paused by it."""
        return bool(self.active)

    def balance_ok(self, threshold: Decimal) -> bool:
        """Whether the last check saw the balance at or above the threshold."""
        return self.last_balance is not None and self.last_balance >= threshold
