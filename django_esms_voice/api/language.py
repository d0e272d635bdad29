"""The API answers in the language the request asks for, with or without LocaleMiddleware.

Without django.middleware.locale.LocaleMiddleware nothing activates the request's language, so
every message (DRF's validation, permission, throttle and 404 errors, and this app's own) would
be in LANGUAGE_CODE whatever the client's Accept-Language says. A language chosen before the
view is left alone: LocaleMiddleware's (request.LANGUAGE_CODE, which may come from an
i18n_patterns prefix), or one the host's own middleware activated.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView


def request_language(request: HttpRequest) -> str | None:
    """The language to answer in, as LocaleMiddleware picks it; None when one is chosen already."""
    if hasattr(request, "LANGUAGE_CODE"):  # LocaleMiddleware ran
        return None
    # Another language than the default is active: a middleware (or a caller) chose it. Django
    # cannot tell "LANGUAGE_CODE activated" from "nothing activated"; both follow the request.
    if translation.get_language() != settings.LANGUAGE_CODE:
        return None
    return translation.get_language_from_request(request)


class RequestLanguageMixin(APIView):
    """Handle the request in its language: the language cookie, Accept-Language, LANGUAGE_CODE.

    Around the whole of DRF's dispatch, so its own errors (authentication, permission,
    throttle, 404, parsing, validation) are translated too, and the language is restored
    after: nothing leaks into the thread's next request. The response's data is made in the
    view, so it is in that language when Django renders it after the view returns.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Run the view with the request's language active; say which in Content-Language."""
        language = request_language(request)
        if language is None:
            return super().dispatch(request, *args, **kwargs)
        with translation.override(language):
            response = super().dispatch(request, *args, **kwargs)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
        return response

    def handle_exception(self, exc: Exception) -> Response:
        """Answer a 404 with DRF's translated "Not found.", not get_object_or_404()'s message.

        Django's "No VoiceCall matches the given query." is never translated, and names a class.
        """
        if isinstance(exc, Http404):
            exc = NotFound()
        return super().handle_exception(exc)
