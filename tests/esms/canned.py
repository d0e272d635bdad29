"""A transport adapter that records each prepared request and answers a canned response."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from django_esms_voice.esms.client import EsmsVoiceClient

Answer = tuple[int, bytes, str, str | None]


class CannedAdapter(BaseAdapter):
    """Record every prepared request and answer it from a queue (the last answer repeats)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []
        self.options: list[dict[str, Any]] = []  # the proxies and CA bundle of each send
        self.answers: list[Answer] = []

    def reply(
        self,
        body: Any,
        status: int = 200,
        content_type: str = "application/json",
        location: str | None = None,
    ) -> CannedAdapter:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers.append((status, raw, content_type, location))
        return self

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.sent.append(request)
        self.options.append({"proxies": proxies, "verify": verify})
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        status, raw, content_type, location = (
            self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        )
        response = requests.Response()
        response.status_code = status
        response._content = raw
        response.headers = CaseInsensitiveDict({"Content-Type": content_type})
        if location is not None:
            response.headers["Location"] = location
        response._content_consumed = True
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def mount(client: EsmsVoiceClient) -> CannedAdapter:
    adapter = CannedAdapter()
    client.session.mount("https://", adapter)
    client.session.mount("http://", adapter)
    return adapter


def query(request: requests.PreparedRequest) -> dict[str, str]:
    """Decode the request's query string once; every parameter must appear exactly once."""
    parsed = parse_qs(urlsplit(request.url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {name: values[0] for name, values in parsed.items()}
