"""The DRF view eSMS calls with each result: authenticated by the signed per-call URL."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.handlers.wsgi import get_str_from_wsgi
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpResponse, QueryDict, UnreadablePostError
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .conf import voice_settings
from .models import EventOutcome, EventSource
from .services.deliveries import read_delivery, too_many_fields
from .signing import is_valid_token

security_logger = logging.getLogger("django_esms_voice.security")
logger = logging.getLogger(__name__)


def client_address(request: Request) -> str | None:
    """Return the caller's IP, trusting X-Forwarded-For only as far as CALLBACK_PROXY_COUNT says."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = voice_settings().callback_proxy_count
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def is_allowed_address(address: str | None) -> bool:
    """Say whether CALLBACK_ALLOWED_NETWORKS lets this address call back (no list: anyone)."""
    networks = voice_settings().callback_allowed_networks
    if networks is None:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def _unlogged(response: Response) -> Response:
    """Keep Django's "Not Found: <path>" request log line out: the path holds the token."""
    response._has_been_logged = True  # type: ignore[attr-defined]  # log_response() skips it
    return response


class _NestingSafeJSONParser(JSONParser):
    """DRF's JSON parser, with JSON nested past Python's recursion limit a ParseError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """Parse as DRF does; a RecursionError (a 2 KB body of "[" can raise one) is malformed."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply") from None


def read_body(request: Request) -> tuple[str, str]:
    """Return the body as text and "", or as much of it as is stored and why it is not read.

    Django refuses a body longer than DATA_UPLOAD_MAX_MEMORY_SIZE (by its Content-Length)
    before reading it; of such a body only the first MAX_RAW_LENGTH bytes are read.
    """
    try:
        body: bytes = request.body
    except RequestDataTooBig:
        head: bytes = request.read(services.MAX_RAW_LENGTH)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        why = f"body over {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
        return head.decode("utf-8", "replace"), why
    except (UnreadablePostError, ValueError):  # the client went away; a junk Content-Length
        return "", "body could not be read"
    return body.decode("utf-8", "replace"), ""


def body_fields(request: Request) -> tuple[list[tuple[Any, Any]], str]:
    """Return a read body's fields (form or JSON object) and "", or [] and why not."""
    try:
        data = request.data
    except (ParseError, UnsupportedMediaType) as exc:
        return [], f"body not parsed: {exc.detail}"
    except TooManyFieldsSent:
        return [], too_many_fields()
    if isinstance(data, QueryDict):
        return [(key, value) for key, values in data.lists() for value in values], ""
    if isinstance(data, dict):
        return list(data.items()), ""
    return [], "body is not an object"


class AlwaysJSON(DefaultContentNegotiation):
    """Answer JSON whatever the Accept header or a "format" field asks: eSMS needs its 200."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        """Pick the one renderer, without the 406 or 404 a mismatch would otherwise give."""
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _outcome_response(outcome: str) -> HttpResponse:
    """Answer {"outcome": …} as JSONRenderer would, without a render pass per request."""
    return HttpResponse(_OUTCOME_BODIES[outcome], content_type=JSONRenderer.media_type)


_OUTCOME_BODIES: dict[str, bytes] = {
    outcome: JSONRenderer().render({"outcome": outcome}) for outcome in EventOutcome
}


def _is_canonical_uuid(value: str) -> bool:
    """Say whether a path segment is a uuid spelled as callback URLs spell it."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


class _Refused(Exception):
    """A malformed call id, a bad token or a caller outside the allowed networks: a 404."""


class CallbackView(APIView):
    """Receive one eSMS result (GET, or POST), store it, apply it, and answer 200."""

    # Not HEAD (Django would run get() for it) nor OPTIONS (DRF would describe the view):
    # eSMS uses neither, so they are answered 405 like PUT, once the URL is authentic.
    http_method_names = ["get", "post"]

    # eSMS cannot sign or log in: the HMAC token in the URL path is the credential.
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    renderer_classes = [JSONRenderer]
    parser_classes = [FormParser, _NestingSafeJSONParser]
    content_negotiation_class = AlwaysJSON

    address: str | None = None

    def perform_authentication(self, request: Request) -> None:
        """Authenticate nobody with DRF: the token in the path is checked by initial()."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Check the call id, the token and the caller's address before any handler runs.

        So whatever the method and the body, a forged request is refused before the body is
        read, and gets the same 404 as a forged GET.
        """
        super().initial(request, *args, **kwargs)
        self.address = self._authenticate(request, kwargs["call_uuid"], kwargs["token"])

    def handle_exception(self, exc: Exception) -> Response:
        """Answer 500 for an unexpected error, logging it without the URL (it holds the token)."""
        if isinstance(exc, _Refused):
            return _unlogged(Response(status=404))
        try:
            response = super().handle_exception(exc)
        except Exception:  # DRF re-raises what it does not handle; Django would log the path
            logger.error("eSMS callback failed: %s", type(exc).__name__, exc_info=exc)
            response = Response({"detail": "internal error"}, status=500)
        return _unlogged(response)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Exempt the view from ATOMIC_REQUESTS and LoginRequiredMiddleware (CSRF: DRF does)."""
        view = transaction.non_atomic_requests(super().as_view(**initkwargs))
        view.login_required = False  # type: ignore[attr-defined]
        return view

    def get(self, request: Request, call_uuid: Any, token: str) -> HttpResponse:
        """eSMS sends results as a GET with query parameters."""
        return self._receive(request, call_uuid, [], "", "")

    def post(self, request: Request, call_uuid: Any, token: str) -> HttpResponse:
        """Accept the same fields as a form or JSON body, for proxies that re-post."""
        body, error = read_body(request)
        body_pairs: list[tuple[Any, Any]] = []
        if not error:
            body_pairs, error = body_fields(request)
        return self._receive(request, call_uuid, body_pairs, body, error)

    def _authenticate(self, request: Request, call_uuid: str, token: str) -> str | None:
        """Return the caller's address if the URL is authentic and the address allowed."""
        address = client_address(request)
        if not _is_canonical_uuid(call_uuid):
            security_logger.warning(
                "eSMS callback refused: malformed call id %r from %s", call_uuid[:40], address
            )
            raise _Refused
        if not is_valid_token(call_uuid, token):
            security_logger.warning(
                "eSMS callback refused: bad token for call %s from %s", call_uuid, address
            )
            raise _Refused
        if not is_allowed_address(address):
            security_logger.warning(
                "eSMS callback refused: %s is not in CALLBACK_ALLOWED_NETWORKS (call %s)",
                address,
                call_uuid,
            )
            raise _Refused
        return address

    def _receive(
        self,
        request: Request,
        call_uuid: Any,
        body_pairs: list[tuple[Any, Any]],
        body: str,
        body_error: str,
    ) -> HttpResponse:
        """Store and apply an authentic delivery; 503 when the database is down."""
        address = self.address
        # WSGI hands the query over as latin-1: decode its bytes as UTF-8, as QueryDict does.
        raw = get_str_from_wsgi(request.META, "QUERY_STRING", "")
        result, error = read_delivery(raw, body_pairs, body_error)
        if body:
            raw = f"{raw}\n\n{body}" if raw else body
        try:
            event = services.record_result(
                call_uuid=call_uuid,
                source=EventSource.CALLBACK,
                raw=raw,
                result=result,
                error=error,
                remote_addr=address,
                method=request.method or "",
            )
        except (OperationalError, InterfaceError):
            logger.exception("eSMS callback for call %s: database unavailable", call_uuid)
            return _unlogged(Response({"detail": "database unavailable, retry later"}, status=503))
        if event is None:
            security_logger.warning(
                "eSMS callback refused: no call %s (valid token) from %s", call_uuid, address
            )
            return _unlogged(Response(status=404))
        return _outcome_response(event.outcome)
