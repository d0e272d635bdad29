"""Each way a delivery reaches the callback view runs every security case (cases.py)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from .cases import CallbackSecurityCases, json_body

FORM = "application/x-www-form-urlencoded"


class TestGetQuery(CallbackSecurityCases):
    """eSMS's own delivery: a GET with the result in the query string."""

    def send(self, url: str, query: str, client: Client | None = None, **extra: Any) -> Any:
        """GET the URL with the query."""
        return (client or Client()).get(f"{self.path(url)}?{query}", **extra)


class TestGetWithoutTrailingSlash(TestGetQuery):
    """A GET whose URL lost its trailing slash on the way (no redirect: eSMS would not follow)."""

    def path(self, url: str) -> str:
        """Drop the trailing slash."""
        return url.rstrip("/")


class TestPostForm(CallbackSecurityCases):
    """A proxy that re-posts the fields as a form."""

    method = "post"

    def send(self, url: str, query: str, client: Client | None = None, **extra: Any) -> Any:
        """POST the query as a form body."""
        return (client or Client()).post(self.path(url), data=query, content_type=FORM, **extra)


class TestPostJson(CallbackSecurityCases):
    """A proxy that re-posts the fields as a JSON object."""

    method = "post"

    def send(self, url: str, query: str, client: Client | None = None, **extra: Any) -> Any:
        """POST the fields as a JSON object."""
        return (client or Client()).post(
            self.path(url), data=json_body(query), content_type="application/json", **extra
        )

    def stored_raw(self, query: str) -> str:
        """The JSON body is stored as it came."""
        return json_body(query)
