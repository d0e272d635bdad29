"""Spend once: single-use admin confirmations and the API's Idempotency-Key header.

The unique (scope, key) constraint does the work. The request that spends claims its key in
the transaction that creates the calls; a second request with the same key waits at the
INSERT until the first one commits, then fails it and finds the first one's row instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from ..conf import voice_settings
from ..models import IdempotencyKey

#: Expired keys one purge deletes.
PURGE_BATCH_SIZE = 1000


def _expired_before(now: dt.datetime | None = None) -> dt.datetime:
    """Keys created before this time are forgotten (IDEMPOTENCY_KEY_TTL)."""
    ttl = voice_settings().idempotency_key_ttl
    return (now or timezone.now()) - dt.timedelta(seconds=ttl)


def claim(scope: str, key: str, **values: Any) -> tuple[IdempotencyKey, bool]:
    """Take a key in the caller's transaction: (row, True), or (the first one's row, False)."""
    if not transaction.get_connection().in_atomic_block:
        # Committed on its own, the key would be spent even if creating the calls failed.
        raise TransactionManagementError("claim() must run in the transaction that spends.")
    # An expired key is forgotten, as if it had never been used.
    IdempotencyKey.objects.filter(scope=scope, key=key, created_at__lt=_expired_before()).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(scope=scope, key=key, **values), True
    except IntegrityError:
        return IdempotencyKey.objects.get(scope=scope, key=key), False


def fingerprint(data: Any) -> str:
    """Return a digest of a request body, the same whatever the order of its keys."""
    text = json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def purge_expired(now: dt.datetime | None = None, *, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """Delete keys older than IDEMPOTENCY_KEY_TTL, at most batch_size of them (the sweep's job)."""
    old = IdempotencyKey.objects.filter(created_at__lt=_expired_before(now))
    ids = list(old.order_by("created_at").values_list("pk", flat=True)[:batch_size])
    deleted, _ = IdempotencyKey.objects.filter(pk__in=ids).delete()
    return deleted
