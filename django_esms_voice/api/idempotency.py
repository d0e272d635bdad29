"""The Idempotency-Key header: a request repeated with its key gets the first answer back."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from ..services import idempotency

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def valid_idempotency_key(key: str) -> bool:
    """Whether a header value can be a key: 1 to 255 visible ASCII characters."""
    return 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and all("!" <= ch <= "~" for ch in key)


def once(request: Request, spend: Callable[[], Response]) -> Response:
    """Answer with spend(), or, for a key used before, with the answer its first request got."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return spend()
    if not valid_idempotency_key(key):
        detail = _("The %(header)s header must be 1 to %(max)d visible ASCII characters.") % {
            "header": IDEMPOTENCY_HEADER,
            "max": MAX_IDEMPOTENCY_KEY_LENGTH,
        }
        return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
    digest = idempotency.fingerprint(request.data)
    with transaction.atomic():
        first, fresh = idempotency.claim(f"api:{request.user.pk}", key, fingerprint=digest)
        if fresh:
            response = spend()
            first.response_status, first.response_body = response.status_code, response.data
            first.save(update_fields=["response_status", "response_body"])
            return response
    if first.fingerprint != digest:
        detail = _(
            "This %(header)s was already used for another request: use a new key for a new request."
        )
        return Response(
            {"detail": detail % {"header": IDEMPOTENCY_HEADER}},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return Response(
        first.response_body, status=first.response_status, headers={REPLAYED_HEADER: "true"}
    )
