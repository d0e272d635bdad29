"""A loopback server that answers what a test scripts, echoing credentials and URLs back.

Shared by the credential and the callback-token tests: what the client sends and what a
provider's error can echo are both read from here.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from django_esms_voice.esms.client import EsmsVoiceClient

API_KEY = "APIKEY-SENTINEL-123"
SECRET_KEY = "SECRET-SENTINEL-456"
SECRETS = (API_KEY, SECRET_KEY)
WINDOW = 8  # a leak of any 8 consecutive characters of a secret counts as a leak


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Return the pieces of the secrets found in text (truncation must not leak a prefix)."""
    return [
        secret[i : i + WINDOW]
        for secret in secrets
        for i in range(len(secret) - WINDOW + 1)
        if secret[i : i + WINDOW] in text
    ]


@dataclass
class Answer:
    status: int = 200
    body: bytes | Callable[[str], bytes] = b"{}"
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    body: bytes


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EchoServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        self.server.seen.append(Seen(self.command, split.path, dict(parse_qsl(split.query)), body))
        answer = self.server.answer
        if answer.delay and self.server.stopping.wait(answer.delay):
            self.close_connection = True
            return
        payload = answer.body(self.path) if callable(answer.body) else answer.body
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = _answer
    do_POST = _answer


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.answer = Answer()
        self.seen: list[Seen] = []
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/MainService.svc/json/"


def sentinel_client(server: EchoServer) -> EsmsVoiceClient:
    """A client with the sentinel credentials, talking to the echo server."""
    return EsmsVoiceClient(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        base_url=server.base_url,
        balance_url=server.base_url,
        timeout=(1.0, 0.4),
    )


def all_text_of(error: BaseException) -> str:
    """Everything a user, a log handler or an error tracker can see of an exception."""
    parts = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(error)),
    ]
    # Attributes are stored in the database (last error) and shown in the admin.
    parts.extend(f"{name}={value!r}" for name, value in vars(error).items())
    cause: BaseException | None = error
    while cause is not None:
        parts.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


def urllib3_request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("urllib3") and "MainService.svc/json/" in record.getMessage()
    ]


def capture_debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every record at DEBUG, urllib3's request lines included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog
