"""A fake eSMS.vn voice API on loopback for demos, tests and benchmarks (stdlib and requests only).

Run it alone with ``python -m django_esms_voice.simulator --port 8765``.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import itertools
import json
import os
import queue
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

SERVICE_PATH = "/MainService.svc/json/"
MAKE_CALL_RECORD = "MakeCallRecord_V2"
MAKE_CALL_TEMPLATE = "MakeCallTemplate_V2"
GET_SEND_STATUS = "GetSendStatus"
GET_BALANCE = "GetBalance_json"

FAILURE_KINDS = frozenset({"timeout", "timeout_before", "http_500", "non_json", "drop"})
CALLBACK_MODES = frozenset({"normal", "none", "duplicate", "out_of_order"})
MAX_CALLBACK_RETRIES = 5
CALLBACK_TIMEOUT = 5.0
SEND_STATUS_FINISHED = 5
SEND_STATUS_SENT = 7
USER_ID = 9999

ERROR_MESSAGES: dict[str, str] = {
    "99": "Phone number is blocked",
    "101": "Authorize Failed",
    "102": "Price table not found",
    "103": "Balance not enough",
    "104": "Template not found",
    "105": "ReferenceId not found",
    "106": "Record file not found",
    "108": "Phone number is invalid",
    "124": "Duplicate RequestId",
    "140": "IP address not allowed",
}

# Mobiles are 0 + 9 digits; landlines since 2017 are 02 + 9 digits (02871002454, the docs' CID).
_VN_PHONE = re.compile(r"(?:0|84)(?:[1-9]\d{8}|2\d{9})")
_SECRET_PARAMS = frozenset({"ApiKey", "SecretKey"})
_HTML_500 = (
    b"<html><head><title>Runtime Error</title></head>"
    b"<body><h1>Server Error in '/' Application.</h1></body></html>"
)
_HTML_UNAVAILABLE = b"<html>Service Unavailable</html>"

Task = Callable[[requests.Session], None]


def normalise_phone(phone: str) -> str:
    """Return the digits of a Vietnamese number in national form (84901888484 -> 0901888484)."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("84") and len(digits) == 11:
        return "0" + digits[2:]
    return digits


def _masked(params: dict[str, str]) -> dict[str, str]:
    """Return params with the credentials hidden, for reprs."""
    return {key: "***" if key in _SECRET_PARAMS else value for key, value in params.items()}


def _json_number(value: Decimal) -> int | float:
    """Return a Decimal as a JSON number (an int when it is whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Outcome:
    """The final result of a call, as eSMS reports it."""

    call_status: str = "ANSWERED"
    sent_result: int = 1
    duration: int = 13
    ivr: str = ""
    price: str = "500.0000"

    @classmethod
    def answered(cls, *, ivr: str = "", duration: int = 13, price: str = "500.0000") -> Outcome:
        """Return a call the listener picked up."""
        return cls("ANSWERED", 1, duration, ivr, price)

    @classmethod
    def no_answer(cls) -> Outcome:
        """Return a call nobody picked up."""
        return cls("NO ANSWER", 1, 0, "", "0.0000")

    @classmethod
    def failed(cls) -> Outcome:
        """Return a call the carrier never placed."""
        return cls("", 0, 0, "", "0.0000")

    @property
    def status_call_status(self) -> str:
        """Return CallStatus as GetSendStatus spells it."""
        # The status endpoint documents "NOANSWERED" where callbacks send "NO ANSWER".
        return "NOANSWERED" if self.call_status == "NO ANSWER" else self.call_status


@dataclass
class Script:
    """What the simulator does with the calls to one phone."""

    outcome: Outcome = field(default_factory=Outcome.answered)
    reject_code: str | None = None
    failures: list[str] = field(default_factory=list)
    latency: float = 0.0
    callbacks: str = "normal"
    progress_callback: bool = False

    def __post_init__(self) -> None:
        """Refuse unknown failure kinds and callback modes."""
        unknown = [kind for kind in self.failures if kind not in FAILURE_KINDS]
        if unknown:
            raise ValueError(f"unknown failure kinds {unknown}; use {sorted(FAILURE_KINDS)}")
        if self.callbacks not in CALLBACK_MODES:
            raise ValueError(f"unknown callbacks mode {self.callbacks!r}; use {CALLBACK_MODES}")


@dataclass
class ReceivedRequest:
    """One request the simulator received, and how it answered."""

    endpoint: str
    params: dict[str, str] = field(repr=False)
    received_at: float
    code: str | None = None
    failure: str | None = None

    @property
    def request_id(self) -> str | None:
        """Return the partner's RequestId, spelled as the endpoint spells it."""
        key = "RequestID" if self.endpoint == MAKE_CALL_RECORD else "RequestId"
        return self.params.get(key) or None

    @property
    def safe_params(self) -> dict[str, str]:
        """Return the params with ApiKey and SecretKey masked."""
        return _masked(self.params)


@dataclass
class SimulatedCall:
    """A call the simulator accepted."""

    smsid: str
    request_id: str | None
    phone: str
    endpoint: str
    params: dict[str, str] = field(repr=False)
    callback_url: str | None = field(repr=False)
    script: Script
    accepted_at: float
    final_at: float | None = None

    @property
    def outcome(self) -> Outcome:
        """Return the final result this call will report."""
        return self.script.outcome


@dataclass
class CallbackDelivery:
    """One attempt at delivering a callback."""

    smsid: str
    url: str = field(repr=False)
    params: dict[str, str]
    attempt: int
    sent_at: float
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 200."""
        return self.status == 200


@dataclass
class _Message:
    """One callback in a call's sequence."""

    params: list[tuple[str, str]]
    due: float
    final: bool


@dataclass
class _Job:
    """A callback message on its way, with the messages that follow it."""

    call: SimulatedCall
    url: str
    message: _Message
    rest: list[_Message]
    generation: int
    attempt: int = 1


class _Scheduler:
    """One timer thread feeding due tasks to a small pool of sender threads."""

    def __init__(self, workers: int) -> None:
        """Prepare the heap and the pool; nothing runs before start()."""
        self._workers = max(1, workers)
        self._heap: list[tuple[float, int, Task]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def start(self) -> None:
        """Start the timer thread and the sender threads."""
        self._threads.append(
            threading.Thread(target=self._run_timer, name="esms-sim-timer", daemon=True)
        )
        for index in range(self._workers):
            name = f"esms-sim-sender-{index}"
            self._threads.append(threading.Thread(target=self._run_sender, name=name, daemon=True))
        for thread in self._threads:
            thread.start()

    def schedule(self, due: float, task: Task) -> None:
        """Run task on a sender thread once time.monotonic() reaches due."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (due, next(self._seq), task))
            if self._heap[0][2] is task:
                self._cond.notify()

    def clear(self) -> None:
        """Forget every task not yet due."""
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        """Stop the threads and wait for them."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        for _ in range(self._workers):
            self._queue.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(CALLBACK_TIMEOUT + 1)

    def _run_timer(self) -> None:
        """Move due tasks from the heap to the senders' queue."""
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                self._queue.put(heapq.heappop(self._heap)[2])

    def _run_sender(self) -> None:
        """Run queued tasks with this thread's own keep-alive session."""
        with requests.Session() as session:
            while (task := self._queue.get()) is not None:
                task(session)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its open keep-alive connections."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: EsmsSimulator) -> None:
        """Bind to address and serve requests for sim."""
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it on its own thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away; report anything else."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError) or self.sim.stopping:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the simulator; speaks HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "EsmsSimulator/1.0"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: no per-request logging, and the URL carries the credentials."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self.server.sim._dispatch(self, "GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self.server.sim._dispatch(self, "POST")

    def read_body(self) -> bytes:
        """Read the request body, so the next request on the connection starts clean."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with a body and its Content-Length."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def send_json(self, payload: dict[str, Any], status: int = 200) -> None:
        """Answer with a JSON document."""
        self.send_body(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True


class EsmsSimulator:
    """A fake eSMS voice server: the four endpoints, their quirks, callbacks, scripted failures."""

    def __init__(
        self,
        api_key: str = "test-key",
        secret_key: str = "test-secret",  # noqa: S107
        host: str = "127.0.0.1",
        port: int = 0,
        callback_delay: float = 0.2,
        status_known_delay: float = 0.0,
        callback_retry_delay: float = 0.5,
        stall_seconds: float = 5.0,
        balance: int | float | str | Decimal = 1_000_000_000,
        price_per_call: str | Decimal = "500.0000",
        cid: str = "02871002454",
        known_templates: Iterable[str] | None = None,
        latency: float = 0.0,
        callback_workers: int = 8,
    ) -> None:
        """Configure the simulator; start() binds and serves."""
        self.api_key = api_key
        self.secret_key = secret_key
        self.host = host
        self.callback_delay = callback_delay
        self.status_known_delay = status_known_delay
        self.callback_retry_delay = callback_retry_delay
        self.stall_seconds = stall_seconds
        self.price_per_call = Decimal(str(price_per_call))
        self.cid = cid
        self.known_templates = (
            None if known_templates is None else frozenset(str(t) for t in known_templates)
        )
        self.latency = latency
        self.default = Script()
        self.balance = Decimal(str(balance))
        self.requests: list[ReceivedRequest] = []
        self.calls: dict[str, SimulatedCall] = {}
        self.callback_deliveries: list[CallbackDelivery] = []
        self._initial = (self.balance, latency)
        self._requested_port = port
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._scripts: dict[str, Script] = {}
        self._rules: list[tuple[Callable[[str], bool], Script]] = []
        self._consumed: dict[str, tuple[Script, int]] = {}
        self._request_ids: dict[str, str] = {}
        self._callbacks_ok = 0
        self._in_flight = 0
        self._generation = 0
        self._stop_event = threading.Event()
        self._scheduler = _Scheduler(callback_workers)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EsmsSimulator:
        """Bind the port and serve in a background thread."""
        if self._server is not None or self._stop_event.is_set():
            raise RuntimeError("an EsmsSimulator can be started once")
        self._server = _Server((self.host, self._requested_port), self)
        self._scheduler.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="esms-sim-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and sending callbacks, and wait for the threads; safe to call twice."""
        with self._lock:
            if self._stop_event.is_set():
                return
            self._stop_event.set()
            self._changed.notify_all()
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
            thread.join()
        self._scheduler.stop()

    def __enter__(self) -> EsmsSimulator:
        """Start on entering a with block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on leaving a with block."""
        self.stop()

    @property
    def stopping(self) -> bool:
        """Whether stop() was called."""
        return self._stop_event.is_set()

    @property
    def port(self) -> int:
        """Return the bound port."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """Return the voice endpoints' base URL, as ESMS_VOICE["BASE_URL"] wants it."""
        return f"http://{self.host}:{self.port}{SERVICE_PATH}"

    @property
    def balance_url(self) -> str:
        """Return the GetBalance_json base URL, as ESMS_VOICE["BALANCE_URL"] wants it."""
        return self.base_url

    def script(self, phone: str, script: Script) -> None:
        """Script the calls to one phone (any of 0901888484, 84901888484, +84901888484)."""
        with self._lock:
            self._scripts[normalise_phone(phone)] = script

    def add_rule(self, predicate: Callable[[str], bool], script: Script) -> None:
        """Script the calls to every phone (national form, 0xxxxxxxxx) the predicate accepts."""
        with self._lock:
            self._rules.append((predicate, script))

    def reset(self) -> None:
        """Forget calls, logs, scripts and pending callbacks; restore balance and latency."""
        with self._lock:
            self._generation += 1
            self.requests.clear()
            self.calls.clear()
            self.callback_deliveries.clear()
            self._scripts.clear()
            self._rules.clear()
            self._consumed.clear()
            self._request_ids.clear()
            self._callbacks_ok = 0
            self.default = Script()
            self.balance, self.latency = self._initial
            self._scheduler.clear()

    def accepted(self, request_id: str | None = None) -> list[ReceivedRequest]:
        """Return the MakeCall requests answered 100, optionally only those with request_id."""
        with self._lock:
            return [
                entry
                for entry in self.requests
                if entry.code == "100"
                and entry.endpoint in (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE)
                and (request_id is None or entry.request_id == request_id)
            ]

    def wait_for_callbacks(self, count: int, timeout: float) -> bool:
        """Block until count callbacks were answered 200; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._callbacks_ok >= count, timeout)

    @property
    def in_flight(self) -> int:
        """Return how many MakeCall requests are being answered right now (latency included)."""
        with self._lock:
            return self._in_flight

    def wait_in_flight(self, count: int, timeout: float) -> bool:
        """Block until at least count MakeCall requests are in flight at once; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight >= count, timeout)

    def find_call(self, reference_id: str) -> SimulatedCall | None:
        """Return the call with that SMSID, whatever its case and surrounding spaces."""
        with self._lock:
            return self.calls.get(reference_id.strip().lower())

    def _dispatch(self, handler: _Handler, method: str) -> None:
        """Route one HTTP request to its endpoint."""
        split = urlsplit(handler.path)
        body = handler.read_body()
        name = split.path[len(SERVICE_PATH) :] if split.path.startswith(SERVICE_PATH) else ""
        if name not in (MAKE_CALL_RECORD, MAKE_CALL_TEMPLATE, GET_SEND_STATUS, GET_BALANCE):
            handler.send_body(404, b"Endpoint not found.", "text/plain; charset=utf-8")
            return
        allowed = "POST" if name == GET_BALANCE else "GET"
        if method != allowed:
            handler.send_body(
                405, b"Method not allowed.", "text/plain; charset=utf-8", {"Allow": allowed}
            )
            return
        if name == GET_BALANCE:
            self._get_balance(handler, body)
            return
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        if name == GET_SEND_STATUS:
            self._get_send_status(handler, params)
        else:
            self._track_in_flight(1)
            try:
                self._make_call(handler, name, params)
            finally:
                self._track_in_flight(-1)

    def _track_in_flight(self, delta: int) -> None:
        """Count a MakeCall request in or out, and wake whoever waits on the count."""
        with self._changed:
            self._in_flight += delta
            self._changed.notify_all()

    def _authorised(self, params: dict[str, Any]) -> bool:
        """Whether the request carries this account's credentials."""
        return params.get("ApiKey") == self.api_key and params.get("SecretKey") == self.secret_key

    def _log(self, entry: ReceivedRequest) -> None:
        """Append to the request log."""
        with self._lock:
            self.requests.append(entry)

    def _script_for(self, phone: str) -> Script:
        """Return a phone's script: its own, else the first matching rule, else the default."""
        if phone in self._scripts:
            return self._scripts[phone]
        for predicate, script in self._rules:
            if predicate(phone):
                return script
        return self.default

    def _next_failure(self, phone: str, script: Script) -> str | None:
        """Consume the next scripted failure for this phone, if any is left."""
        used_script, used = self._consumed.get(phone, (script, 0))
        if used_script is not script:
            used = 0
        if used >= len(script.failures):
            return None
        self._consumed[phone] = (script, used + 1)
        return script.failures[used]

    def _make_call(self, handler: _Handler, endpoint: str, params: dict[str, str]) -> None:
        """Answer MakeCallRecord_V2 or MakeCallTemplate_V2."""
        received_at = time.monotonic()
        phone = normalise_phone(params.get("Phone", ""))
        with self._lock:
            script = self._script_for(phone)
            failure = self._next_failure(phone, script)
        latency = script.latency or self.latency
        if latency > 0 and self._stop_event.wait(latency):
            handler.drop()
            return
        if failure is not None and failure != "timeout":
            self._log(ReceivedRequest(endpoint, params, received_at, None, failure))
            if failure == "timeout_before":
                self._stop_event.wait(self.stall_seconds)
                handler.drop()
            elif failure == "http_500":
                handler.send_body(500, _HTML_500, "text/html; charset=utf-8")
            elif failure == "non_json":
                handler.send_body(200, _HTML_UNAVAILABLE, "text/html; charset=utf-8")
            else:
                handler.drop()
            return
        payload = self._place(endpoint, params, phone, script, received_at, failure)
        if failure == "timeout" and self._stop_event.wait(self.stall_seconds):
            handler.drop()
            return
        handler.send_json(payload)

    def _refusal(
        self, endpoint: str, params: dict[str, str], script: Script, request_id: str | None
    ) -> str | None:
        """Return the code a MakeCall request is refused with, or None to accept it."""
        template = params.get("TemplateId", "")
        if not self._authorised(params):
            return "101"
        if request_id is not None and request_id in self._request_ids:
            return "124"
        if script.reject_code is not None:
            return script.reject_code
        if not template or (
            self.known_templates is not None and template not in self.known_templates
        ):
            return "106" if endpoint == MAKE_CALL_RECORD else "104"
        if not _VN_PHONE.fullmatch(params.get("Phone", "")):
            return "108"
        if self.balance < self.price_per_call:
            return "103"
        return None

    def _place(
        self,
        endpoint: str,
        params: dict[str, str],
        phone: str,
        script: Script,
        received_at: float,
        failure: str | None,
    ) -> dict[str, str]:
        """Decide a MakeCall request, record an accepted call, and return the answer."""
        # MakeCallRecord_V2 spells the parameter "RequestID", every other endpoint "RequestId".
        key = "RequestID" if endpoint == MAKE_CALL_RECORD else "RequestId"
        request_id = params.get(key) or None
        with self._lock:
            code = self._refusal(endpoint, params, script, request_id)
            self.requests.append(
                ReceivedRequest(endpoint, params, received_at, code or "100", failure)
            )
            if code is not None:
                return {"CodeResult": code, "ErrorMessage": ERROR_MESSAGES.get(code, "Error")}
            smsid = str(uuid.uuid4())
            call = SimulatedCall(
                smsid=smsid,
                request_id=request_id,
                phone=phone,
                endpoint=endpoint,
                params=params,
                callback_url=params.get("CallbackUrl") or None,
                script=script,
                accepted_at=time.monotonic(),
            )
            self.calls[smsid] = call
            if request_id is not None:
                self._request_ids[request_id] = smsid
            self.balance -= self.price_per_call
            self._plan_callbacks(call)
        # The docs' sample answer carries a trailing space after the SMSID; clients must strip it.
        return {"CodeResult": "100", "SMSID": smsid + " "}

    def _get_send_status(self, handler: _Handler, params: dict[str, str]) -> None:
        """Answer GetSendStatus."""
        received_at = time.monotonic()
        payload: dict[str, Any]
        if not self._authorised(params):
            # This endpoint's error form uses CodeResult, its success form CodeResponse.
            payload = {
                "CodeResult": "101",
                "CountRegenerate": 0,
                "ErrorMessage": "Authorize Failed",
            }
            code = "101"
        else:
            call = self.find_call(params.get("ReferenceId", ""))
            # A call just made is not known at once: 105 means "ask again later".
            if call is None or received_at - call.accepted_at < self.status_known_delay:
                payload = {"CodeResponse": "105", "ErrorMessage": ERROR_MESSAGES["105"]}
                code = "105"
            else:
                payload = self._status_payload(call, received_at)
                code = "100"
        self._log(ReceivedRequest(GET_SEND_STATUS, params, received_at, code))
        handler.send_json(payload)

    def _status_payload(self, call: SimulatedCall, now: float) -> dict[str, Any]:
        """Return the GetSendStatus answer for a known call."""
        outcome = call.outcome
        final = call.final_at is not None and now >= call.final_at
        # Numbers come as JSON numbers here (strings elsewhere) and the id comes upper-case.
        return {
            "CallDuration": outcome.duration if final else 0,
            "CallStatus": outcome.status_call_status if final else "",
            "CodeResponse": "100",
            "Ivr": outcome.ivr if final else "",
            "ReferenceId": call.smsid.upper(),
            "SendStatus": SEND_STATUS_FINISHED if final else SEND_STATUS_SENT,
            "SentResult": outcome.sent_result if final else 1,
        }

    def _get_balance(self, handler: _Handler, body: bytes) -> None:
        """Answer GetBalance_json (a JSON POST, unlike the voice endpoints)."""
        received_at = time.monotonic()
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        params = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        payload: dict[str, Any]
        if self._authorised(params):
            with self._lock:
                balance = self.balance
            payload = {"Balance": _json_number(balance), "CodeResponse": "100", "UserID": USER_ID}
        else:
            payload = {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
        self._log(ReceivedRequest(GET_BALANCE, params, received_at, payload["CodeResponse"]))
        handler.send_json(payload)

    def _callback_params(self, call: SimulatedCall, *, final: bool) -> list[tuple[str, str]]:
        """Return a callback's query parameters, in the docs' order."""
        outcome = call.outcome
        if final:
            values = (outcome.duration, outcome.call_status, outcome.ivr, outcome.price)
            sent_result, send_status = outcome.sent_result, SEND_STATUS_FINISHED
        else:
            values = (0, "", "", "0.0000")
            sent_result, send_status = 1, SEND_STATUS_SENT
        return [
            ("ReferenceId", call.smsid),
            ("CallDuration", str(values[0])),
            ("CallStatus", str(values[1])),
            ("Ivr", str(values[2])),
            ("Price", str(values[3])),
            ("SentResult", str(sent_result)),
            ("CID", self.cid),
            ("SendStatus", str(send_status)),
        ]

    def _plan_callbacks(self, call: SimulatedCall) -> None:
        """Schedule a new call's callbacks; its final state shows when the final one is due."""
        final_due = call.accepted_at + self.callback_delay
        if call.callback_url is None or call.script.callbacks == "none":
            call.final_at = final_due
            return
        progress = _Message(
            self._callback_params(call, final=False),
            call.accepted_at + self.callback_delay / 2,
            False,
        )
        final = _Message(self._callback_params(call, final=True), final_due, True)
        plan = [progress, final] if call.script.progress_callback else [final]
        if call.script.callbacks == "duplicate":
            plan.append(_Message(final.params, 0.0, False))
        elif call.script.callbacks == "out_of_order":
            plan.append(_Message(progress.params, 0.0, False))
        job = _Job(call, call.callback_url, plan[0], plan[1:], self._generation)
        self._schedule(job, plan[0].due)

    def _schedule(self, job: _Job, due: float) -> None:
        """Queue a job; the final result becomes visible when its first delivery is due."""
        if job.attempt == 1 and job.message.final:
            with self._lock:
                job.call.final_at = due
        self._scheduler.schedule(due, functools.partial(self._deliver, job))

    def _deliver(self, job: _Job, session: requests.Session) -> None:
        """Send one callback attempt, then retry it or move on to the next message."""
        if self._stop_event.is_set() or job.generation != self._generation:
            return
        status: int | None = None
        error: str | None = None
        sent_at = time.monotonic()
        try:
            response = session.get(job.url, params=job.message.params, timeout=CALLBACK_TIMEOUT)
            status = response.status_code
            response.close()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = CallbackDelivery(
            smsid=job.call.smsid,
            url=job.url,
            params=dict(job.message.params),
            attempt=job.attempt,
            sent_at=sent_at,
            status=status,
            error=error,
        )
        with self._lock:
            if job.generation != self._generation:
                return
            self.callback_deliveries.append(delivery)
            if delivery.ok:
                self._callbacks_ok += 1
                self._changed.notify_all()
        now = time.monotonic()
        # eSMS retries a callback the receiver did not answer with 200, at most 5 times.
        if not delivery.ok and job.attempt <= MAX_CALLBACK_RETRIES:
            retry = _Job(job.call, job.url, job.message, job.rest, job.generation, job.attempt + 1)
            self._schedule(retry, now + self.callback_retry_delay)
        elif job.rest:
            following = _Job(job.call, job.url, job.rest[0], job.rest[1:], job.generation)
            self._schedule(following, max(job.rest[0].due, now))


OUTCOMES: dict[str, Callable[[], Outcome]] = {
    "answered": Outcome.answered,
    "no_answer": Outcome.no_answer,
    "failed": Outcome.failed,
}


def describe(sim: EsmsSimulator) -> str:
    """Return the lines that tell a developer how to point the app at a running simulator."""
    return (
        f"eSMS voice simulator listening on {sim.host}:{sim.port}\n"
        f'  ESMS_VOICE["BASE_URL"] = "{sim.base_url}"\n'
        f'  ESMS_VOICE["BALANCE_URL"] = "{sim.balance_url}"\n'
        f"Callbacks come {sim.callback_delay:g} s after a call is accepted. Ctrl-C stops.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator from the command line until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m django_esms_voice.simulator",
        description="Serve a fake eSMS.vn voice API for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default %(default)s)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ESMS_VOICE_API_KEY") or "test-key",
        help="ApiKey to accept (default: $ESMS_VOICE_API_KEY or test-key)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("ESMS_VOICE_SECRET_KEY") or "test-secret",
        help="SecretKey to accept (default: $ESMS_VOICE_SECRET_KEY or test-secret)",
    )
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=2.0,
        help="seconds from acceptance to the final callback (default %(default)s)",
    )
    parser.add_argument(
        "--outcome",
        choices=sorted(OUTCOMES),
        default="answered",
        help="result of every call (default %(default)s)",
    )
    args = parser.parse_args(argv)
    sim = EsmsSimulator(
        api_key=args.api_key,
        secret_key=args.secret_key,
        host=args.host,
        port=args.port,
        callback_delay=args.callback_delay,
    )
    sim.default = Script(outcome=OUTCOMES[args.outcome]())
    try:
        sim.start()
    except OSError as exc:
        sys.stderr.write(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1

    sys.stdout.write(describe(sim))
    sys.stdout.flush()
    serve_until_interrupted(sim)
    sys.stdout.write("Stopping the simulator.\n")
    return 0


def serve_until_interrupted(sim: EsmsSimulator) -> None:
    """Block until Ctrl-C or SIGTERM, then stop the simulator."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Set both explicitly: a process started in the background by a shell (or by some service
    # managers) inherits SIGINT as ignored, and would then never see Ctrl-C.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
