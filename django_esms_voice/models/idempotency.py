"""IdempotencyKey: a request that spends money, remembered so that a repeat spends nothing."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """A request that spends money, seen once: an admin confirmation or an API Idempotency-Key.

    Unique on (scope, key): a second request with the same key waits at the INSERT for the
    first one's transaction, fails, and gets the first one's batch or answer instead.
    """

    scope = models.CharField(_("scope"), max_length=100)
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64, blank=True)
    batch = models.CharField(_("batch"), max_length=100, blank=True)
    call_count = models.PositiveIntegerField(_("calls created"), default=0)
    response_status = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)
    response_body = models.JSONField(_("answer"), null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        default_permissions = ()  # bookkeeping: nobody edits it
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="esms_voice_idempotency_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="esms_voice_idempotency_age")]

    def __str__(self) -> str:
        return f"{self.scope} {self.created_at:%Y-%m-%d %H:%M:%S}"
