"""The simulator tests' helpers: a callback receiver, calls and status queries over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from django_esms_voice.testing.simulator import EsmsSimulator

KEYS = {"ApiKey": "test-key", "SecretKey": "test-secret"}
PHONE = "0901888484"
CALLBACK_PARAMS = [
    "ReferenceId",
    "CallDuration",
    "CallStatus",
    "Ivr",
    "Price",
    "SentResult",
    "CID",
    "SendStatus",
]
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A callback receiver on loopback: answers the scripted statuses in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None, always: int | None = None) -> None:
        """Bind a loopback port and serve in a background thread."""
        self.statuses = list(statuses or [])
        self.always = always
        self.hits: list[tuple[str, list[tuple[str, str]]]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Return a keep-alive handler class that records into this receiver."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                """Record the callback and answer the next scripted status."""
                split = urlsplit(self.path)
                with receiver.lock:
                    query = parse_qsl(split.query, keep_blank_values=True)
                    receiver.hits.append((split.path, query))
                    status = receiver.always or (
                        receiver.statuses.pop(0) if receiver.statuses else 200
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet."""

        return Handler

    def url(self, path: str = "/esms/callback/4f1c/token/") -> str:
        """Return a callback URL on this receiver."""
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def queries(self) -> list[dict[str, str]]:
        """Return every callback's query as a dict."""
        with self.lock:
            return [dict(query) for _, query in self.hits]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def make_call(
    sim: EsmsSimulator,
    endpoint: str = "MakeCallRecord_V2",
    *,
    session: requests.Session | None = None,
    timeout: float = 5.0,
    extra: Mapping[str, str | None] | None = None,
    **params: str | None,
) -> requests.Response:
    """Place a call on the simulator; a param given as None is left out."""
    query = {**KEYS, "TemplateId": "1", "Phone": PHONE, **(extra or {}), **params}
    getter = session.get if session is not None else requests.get
    return getter(sim.base_url + endpoint, params=query, timeout=timeout)


def smsid_of(response: requests.Response) -> str:
    """Return the accepted call's SMSID, stripped."""
    data = response.json()
    assert data["CodeResult"] == "100", data
    return str(data["SMSID"]).strip()


def send_status(sim: EsmsSimulator, reference_id: str, **params: str) -> dict[str, Any]:
    """Ask GetSendStatus about a call."""
    query = {**KEYS, "ReferenceId": reference_id, **params}
    response = requests.get(sim.base_url + "GetSendStatus", params=query, timeout=5)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll predicate until it holds or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def free_port() -> int:
    """Return a loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
