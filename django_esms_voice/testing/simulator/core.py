"""EsmsSimulator: a fake eSMS.vn voice API on loopback for demos, tests and benchmarks.

The four endpoints with their documented quirks, scripted answers and failures per phone,
and callbacks (callbacks.py) sent back to the CallbackUrl of every accepted call.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .callbacks import CallbackSender
from .protocol import (
    ERROR_MESSAGES,
    GET_BALANCE,
    GET_SEND_STATUS,
    HTML_500,
    HTML_UNAVAILABLE,
    MAKE_CALL_RECORD,
    MAKE_CALL_TEMPLATE,
    SERVICE_PATH,
    USER_ID,
    VN_PHONE,
    json_number,
    normalise_phone,
)
from .records import CallbackDelivery, ReceivedRequest, Script, ScriptBook, SimulatedCall
from .server import Handler, Server


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
        self._initial = (self.balance, latency)
        self._requested_port = port
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._scripts = ScriptBook()
        self._request_ids: dict[str, str] = {}
        self._in_flight = 0
        self._stop_event = threading.Event()
        self._callbacks = CallbackSender(
            self._changed,
            self._stop_event,
            workers=callback_workers,
            retry_delay=lambda: self.callback_retry_delay,
        )
        self.callback_deliveries: list[CallbackDelivery] = self._callbacks.deliveries
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EsmsSimulator:
        """Bind the port and serve in a background thread."""
        if self._server is not None or self._stop_event.is_set():
            raise RuntimeError("an EsmsSimulator can be started once")
        self._server = Server(
            (self.host, self._requested_port), self._dispatch, lambda: self.stopping
        )
        self._callbacks.start()
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
        self._callbacks.stop()

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
            self._scripts.set(normalise_phone(phone), script)

    def add_rule(self, predicate: Callable[[str], bool], script: Script) -> None:
        """Script the calls to every phone (national form, 0xxxxxxxxx) the predicate accepts."""
        with self._lock:
            self._scripts.add_rule(predicate, script)

    def reset(self) -> None:
        """Forget calls, logs, scripts and pending callbacks; restore balance and latency."""
        with self._lock:
            self._callbacks.reset()
            self.requests.clear()
            self.calls.clear()
            self._scripts.clear()
            self._request_ids.clear()
            self.default = Script()
            self.balance, self.latency = self._initial

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
        return self._callbacks.wait_for(count, timeout)

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

    def _dispatch(self, handler: Handler, method: str) -> None:
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

    def _make_call(self, handler: Handler, endpoint: str, params: dict[str, str]) -> None:
        """Answer MakeCallRecord_V2 or MakeCallTemplate_V2."""
        received_at = time.monotonic()
        phone = normalise_phone(params.get("Phone", ""))
        with self._lock:
            script = self._scripts.find(phone, self.default)
            failure = self._scripts.next_failure(phone, script)
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
                handler.send_body(500, HTML_500, "text/html; charset=utf-8")
            elif failure == "non_json":
                handler.send_body(200, HTML_UNAVAILABLE, "text/html; charset=utf-8")
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
        if not VN_PHONE.fullmatch(params.get("Phone", "")):
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
            self._callbacks.plan(call, delay=self.callback_delay, cid=self.cid)
        # The docs' sample answer carries a trailing space after the SMSID; clients must strip it.
        return {"CodeResult": "100", "SMSID": smsid + " "}

    def _get_send_status(self, handler: Handler, params: dict[str, str]) -> None:
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
                payload = call.status_answer(received_at)
                code = "100"
        self._log(ReceivedRequest(GET_SEND_STATUS, params, received_at, code))
        handler.send_json(payload)

    def _get_balance(self, handler: Handler, body: bytes) -> None:
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
            payload = {"Balance": json_number(balance), "CodeResponse": "100", "UserID": USER_ID}
        else:
            payload = {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
        self._log(ReceivedRequest(GET_BALANCE, params, received_at, payload["CodeResponse"]))
        handler.send_json(payload)
