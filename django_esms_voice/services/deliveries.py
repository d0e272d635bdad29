"""Read a callback delivery into a result: the one reading, for a live delivery and a stored one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from ..esms.payloads import CallResult, parse_delivery


def query_pairs(query: str) -> list[tuple[str, str]]:
    """Split a query string into (name, value) pairs, as Django's QueryDict would.

    The view reads eSMS's GET this way rather than through request.GET: building a QueryDict
    cost a tenth of the callback's CPU (bench/callbacks.py). Past Django's
    DATA_UPLOAD_MAX_NUMBER_FIELDS, ValueError.
    """
    return parse_qsl(
        query,
        keep_blank_values=True,
        encoding=settings.DEFAULT_CHARSET,
        max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
    )


def too_many_fields() -> str:
    """Say why a delivery with more fields than Django accepts is invalid."""
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return f"more than {limit} parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS)"


def read_delivery(
    query: str, body_pairs: Iterable[tuple[Any, Any]] = (), body_error: str = ""
) -> tuple[CallResult | None, str]:
    """Return a delivery's result and "", or None and why it is unreadable.

    `query` is the query string as the view stores it (a GET's whole raw), `body_pairs` a
    POST body's fields and `body_error` why the body could not be read.
    """
    try:
        pairs = query_pairs(query)
    except ValueError:
        return None, too_many_fields()
    if body_error:
        return None, body_error
    return parse_delivery([*pairs, *body_pairs])
