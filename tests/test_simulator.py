"""The eSMS simulator, driven over real HTTP: answer shapes, quirks, failures and callbacks."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from django_esms_voice.testing.simulator import EsmsSimulator, Outcome, Script

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
ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def sim() -> Iterator[EsmsSimulator]:
    """Serve a fast simulator: short callback delay, retry delay and stall."""
    with EsmsSimulator(callback_delay=0.05, callback_retry_delay=0.05, stall_seconds=1.0) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Serve a callback receiver that answers 200."""
    server = Receiver()
    yield server
    server.stop()


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


# MakeCall*


def test_record_call_is_accepted_with_the_docs_quirks(sim: EsmsSimulator) -> None:
    response = make_call(sim, RequestID="req-1")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)
    data = response.json()
    assert list(data) == ["CodeResult", "SMSID"]
    assert data["CodeResult"] == "100"
    assert data["SMSID"].endswith(" ")
    assert not data["SMSID"].endswith("  ")
    smsid = data["SMSID"].strip()
    call = sim.calls[smsid]
    assert (call.request_id, call.phone, call.endpoint) == ("req-1", PHONE, "MakeCallRecord_V2")
    assert call.params["RequestID"] == "req-1"
    assert [entry.params["RequestID"] for entry in sim.accepted("req-1")] == ["req-1"]
    assert sim.requests[0].code == "100"
    assert sim.requests[0].failure is None
    assert sim.balance == 1_000_000_000 - 500


def test_template_call_reads_its_params_and_dedupes_on_request_id(sim: EsmsSimulator) -> None:
    params = {"VariableListStr": "Trung||20000", "Voice": "female", "Speed": "0"}
    first = make_call(sim, "MakeCallTemplate_V2", RequestId="tpl-1", extra=params)
    second = make_call(sim, "MakeCallTemplate_V2", RequestId="tpl-1", extra=params)

    call = sim.calls[smsid_of(first)]
    assert call.endpoint == "MakeCallTemplate_V2"
    assert call.params["VariableListStr"] == "Trung||20000"
    assert second.json() == {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
    assert len(sim.calls) == 1
    assert len(sim.accepted("tpl-1")) == 1
    assert sim.balance == 1_000_000_000 - 500


def test_duplicate_request_id_is_refused_with_124(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, RequestID="dup"))

    again = make_call(sim, RequestID="dup")

    assert again.json() == {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
    assert len(sim.calls) == 1
    assert [entry.code for entry in sim.requests] == ["100", "124"]
    assert len(sim.accepted("dup")) == 1


def test_record_endpoint_reads_request_id_spelled_RequestID(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, RequestId="wrong-spelling"))
    smsid_of(make_call(sim, RequestId="wrong-spelling"))

    assert len(sim.calls) == 2
    assert sim.accepted("wrong-spelling") == []


def test_requests_without_request_id_are_not_deduplicated(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim))
    smsid_of(make_call(sim))

    assert len(sim.calls) == 2
    assert len(sim.accepted()) == 2


@pytest.mark.parametrize(
    "credentials",
    [
        {"ApiKey": "wrong"},
        {"SecretKey": "wrong"},
        {"ApiKey": None},
        {"SecretKey": None},
    ],
)
@pytest.mark.parametrize("endpoint", ["MakeCallRecord_V2", "MakeCallTemplate_V2"])
def test_wrong_credentials_are_refused_with_101(
    sim: EsmsSimulator, endpoint: str, credentials: dict[str, str | None]
) -> None:
    response = make_call(sim, endpoint, extra=credentials)

    assert response.json() == {"CodeResult": "101", "ErrorMessage": "Authorize Failed"}
    assert sim.calls == {}


def test_unknown_template_is_104_for_scripts_and_106_for_recordings() -> None:
    with EsmsSimulator(known_templates={"42"}) as sim:
        template = make_call(sim, "MakeCallTemplate_V2", TemplateId="1")
        record = make_call(sim, "MakeCallRecord_V2", TemplateId="1")
        known = make_call(sim, "MakeCallRecord_V2", TemplateId="42")

        assert template.json() == {"CodeResult": "104", "ErrorMessage": "Template not found"}
        assert record.json()["CodeResult"] == "106"
        assert record.json()["ErrorMessage"]
        assert known.json()["CodeResult"] == "100"
        assert len(sim.calls) == 1


@pytest.mark.parametrize(
    ("endpoint", "code"), [("MakeCallTemplate_V2", "104"), ("MakeCallRecord_V2", "106")]
)
def test_missing_template_id_is_refused(sim: EsmsSimulator, endpoint: str, code: str) -> None:
    assert make_call(sim, endpoint, TemplateId=None).json()["CodeResult"] == code
    assert sim.calls == {}


@pytest.mark.parametrize("phone", ["0901888484", "84901888484", "0281234567", "02871002454"])
def test_vietnamese_numbers_are_accepted(sim: EsmsSimulator, phone: str) -> None:
    assert make_call(sim, Phone=phone).json()["CodeResult"] == "100"


@pytest.mark.parametrize(
    "phone", ["090188848", "09018884841", "+84901888484", "1901888484", "849018884", "", "abc"]
)
def test_malformed_numbers_are_refused_with_108(sim: EsmsSimulator, phone: str) -> None:
    response = make_call(sim, Phone=phone)

    assert response.json()["CodeResult"] == "108"
    assert response.json()["ErrorMessage"]
    assert sim.calls == {}


def test_low_balance_is_refused_with_103() -> None:
    with EsmsSimulator(balance=1200, price_per_call="500.0000") as sim:
        codes = [make_call(sim).json()["CodeResult"] for _ in range(3)]

        assert codes == ["100", "100", "103"]
        assert len(sim.calls) == 2
        balance = requests.post(sim.balance_url + "GetBalance_json", json=KEYS, timeout=5)
        assert balance.json() == {"Balance": 200, "CodeResponse": "100", "UserID": 9999}


@pytest.mark.parametrize("code", ["103", "999"])
def test_scripted_refusal_answers_any_code(sim: EsmsSimulator, code: str) -> None:
    sim.script(PHONE, Script(reject_code=code))

    data = make_call(sim, RequestID="r").json()

    assert data["CodeResult"] == code
    assert isinstance(data["ErrorMessage"], str)
    assert data["ErrorMessage"]
    assert sim.calls == {}
    assert sim.accepted() == []
    assert sim.requests[-1].code == code


def test_unknown_paths_and_wrong_methods(sim: EsmsSimulator) -> None:
    root = sim.base_url.removesuffix("MainService.svc/json/")
    for url in (sim.base_url + "MakeCall", sim.base_url + "makecallrecord_v2", root + "other"):
        response = requests.get(url, timeout=5)
        assert response.status_code == 404
        assert int(response.headers["Content-Length"]) == len(response.content)
    assert requests.get(sim.base_url + "GetBalance_json", timeout=5).status_code == 405
    assert requests.post(sim.base_url + "MakeCallRecord_V2", timeout=5).status_code == 405
    assert sim.requests == []


def test_one_keep_alive_connection_serves_many_requests(sim: EsmsSimulator) -> None:
    with requests.Session() as session:
        for _ in range(20):
            response = make_call(sim, session=session)
            assert response.headers.get("Connection", "").lower() != "close"
        before = threading.active_count()
        for _ in range(20):
            make_call(sim, session=session)
        assert threading.active_count() <= before + 1
    assert len(sim.calls) == 40


# GetSendStatus


def test_send_status_goes_from_sent_to_finished_with_the_docs_shape() -> None:
    with EsmsSimulator(callback_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim))

        waiting = send_status(sim, smsid)
        assert waiting == {
            "CallDuration": 0,
            "CallStatus": "",
            "CodeResponse": "100",
            "Ivr": "",
            "ReferenceId": smsid.upper(),
            "SendStatus": 7,
            "SentResult": 1,
        }
        time.sleep(0.35)
        final = send_status(sim, f"  {smsid.upper()} ")
        assert list(final) == [
            "CallDuration",
            "CallStatus",
            "CodeResponse",
            "Ivr",
            "ReferenceId",
            "SendStatus",
            "SentResult",
        ]
        assert final == {
            "CallDuration": 13,
            "CallStatus": "ANSWERED",
            "CodeResponse": "100",
            "Ivr": "",
            "ReferenceId": smsid.upper(),
            "SendStatus": 5,
            "SentResult": 1,
        }
        assert send_status(sim, smsid.lower()) == final


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.answered(ivr="1", duration=20), ("ANSWERED", 1, 20, "1")),
        (Outcome.no_answer(), ("NOANSWERED", 1, 0, "")),
        (Outcome.failed(), ("", 0, 0, "")),
    ],
)
def test_send_status_spells_final_results_as_documented(
    sim: EsmsSimulator, outcome: Outcome, expected: tuple[str, int, int, str]
) -> None:
    sim.default = Script(outcome=outcome)
    smsid = smsid_of(make_call(sim))
    time.sleep(0.1)

    data = send_status(sim, smsid)

    assert data["SendStatus"] == 5
    assert (data["CallStatus"], data["SentResult"], data["CallDuration"], data["Ivr"]) == expected


def test_send_status_answers_105_until_the_call_is_known() -> None:
    with EsmsSimulator(status_known_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim))

        early = send_status(sim, smsid)
        unknown = send_status(sim, "505139D7-54F8-48A9-88FA-9460A78731DD")
        time.sleep(0.35)
        later = send_status(sim, smsid)

        for data in (early, unknown):
            assert data["CodeResponse"] == "105"
            assert data["ErrorMessage"]
            assert "CodeResult" not in data
        assert later["CodeResponse"] == "100"


def test_send_status_with_wrong_credentials_uses_the_error_form(sim: EsmsSimulator) -> None:
    smsid = smsid_of(make_call(sim))

    data = send_status(sim, smsid, SecretKey="wrong")

    assert data == {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}


# GetBalance_json


def test_balance_is_a_json_post(sim: EsmsSimulator) -> None:
    good = requests.post(sim.balance_url + "GetBalance_json", json=KEYS, timeout=5)
    bad = requests.post(
        sim.balance_url + "GetBalance_json", json={**KEYS, "SecretKey": "x"}, timeout=5
    )
    junk = requests.post(sim.balance_url + "GetBalance_json", data=b"not json", timeout=5)

    assert good.json() == {"Balance": 1000000000, "CodeResponse": "100", "UserID": 9999}
    refusal = {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}
    assert bad.json() == refusal
    assert junk.json() == refusal


# Scripted transport failures


def test_timeout_after_acceptance_records_the_call_and_a_resend_gets_124(
    sim: EsmsSimulator,
) -> None:
    sim.script(PHONE, Script(failures=["timeout"]))

    with pytest.raises(requests.ReadTimeout):
        make_call(sim, RequestID="t-1", timeout=0.3)
    resend = make_call(sim, RequestID="t-1")

    assert len(sim.calls) == 1
    assert resend.json() == {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
    assert len(sim.accepted("t-1")) == 1
    assert sim.accepted("t-1")[0].failure == "timeout"


def test_timeout_before_acceptance_records_nothing(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(failures=["timeout_before"]))

    with pytest.raises(requests.ReadTimeout):
        make_call(sim, RequestID="t-2", timeout=0.3)
    assert sim.calls == {}
    resend = make_call(sim, RequestID="t-2")

    assert resend.json()["CodeResult"] == "100"
    assert len(sim.accepted("t-2")) == 1
    assert [(entry.code, entry.failure) for entry in sim.requests] == [
        (None, "timeout_before"),
        ("100", None),
    ]


def test_http_500_answers_html_and_records_nothing(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(failures=["http_500"]))

    response = make_call(sim, RequestID="h")

    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<html>")
    assert sim.calls == {}
    assert make_call(sim, RequestID="h").json()["CodeResult"] == "100"


def test_non_json_answers_200_with_html(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(failures=["non_json"]))

    response = make_call(sim)

    assert response.status_code == 200
    assert response.text == "<html>Service Unavailable</html>"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert sim.calls == {}


def test_drop_closes_the_connection_without_an_answer(sim: EsmsSimulator) -> None:
    sim.script(PHONE, Script(failures=["drop"]))

    with pytest.raises(requests.ConnectionError):
        make_call(sim)
    assert sim.calls == {}
    assert sim.requests[0].failure == "drop"
    assert sim.requests[0].code is None


def test_failures_are_consumed_one_per_request_for_each_phone(sim: EsmsSimulator) -> None:
    sim.add_rule(lambda phone: True, Script(failures=["http_500", "non_json", "drop"]))
    other = "0912345678"

    assert make_call(sim).status_code == 500
    assert make_call(sim, Phone=other).status_code == 500
    assert make_call(sim).text == "<html>Service Unavailable</html>"
    with pytest.raises(requests.ConnectionError):
        make_call(sim)
    assert make_call(sim).json()["CodeResult"] == "100"
    assert make_call(sim, Phone=other).text == "<html>Service Unavailable</html>"
    assert [entry.failure for entry in sim.requests] == [
        "http_500",
        "http_500",
        "non_json",
        "drop",
        None,
        "non_json",
    ]


def test_latency_per_phone_and_global(sim: EsmsSimulator) -> None:
    # Whole seconds, so that a loaded machine cannot make an unscripted call look slow.
    sim.script(PHONE, Script(latency=1.0))

    started = time.monotonic()
    make_call(sim)
    slow = time.monotonic() - started
    started = time.monotonic()
    make_call(sim, Phone="0912345678")
    fast = time.monotonic() - started
    sim.latency = 1.0
    started = time.monotonic()
    make_call(sim, Phone="0912345678")
    global_latency = time.monotonic() - started

    assert slow >= 1.0
    assert fast < 1.0
    assert global_latency >= 1.0


def test_a_hundred_concurrent_connections_are_served_in_parallel(sim: EsmsSimulator) -> None:
    sim.latency = 1.0

    def one_call(index: int) -> str:
        with requests.Session() as session:
            response = make_call(sim, session=session, RequestID=f"c-{index}")
            return str(response.json()["CodeResult"])

    with ThreadPoolExecutor(max_workers=100) as pool:
        answers = pool.map(one_call, range(100))
        # All hundred wait out their latency at once: a serial server would hold one.
        assert sim.wait_in_flight(100, timeout=10), sim.in_flight
        codes = list(answers)

    assert codes == ["100"] * 100
    assert sim.in_flight == 0


# Scripts


def test_scripts_match_normalised_numbers_and_rules_apply_in_order(sim: EsmsSimulator) -> None:
    sim.script("+84901888484", Script(reject_code="99"))
    sim.add_rule(lambda phone: phone.endswith("9"), Script(reject_code="777"))
    sim.add_rule(lambda phone: phone.startswith("091"), Script(reject_code="778"))
    sim.script("0911111119", Script(reject_code="779"))

    def code(phone: str) -> str:
        return str(make_call(sim, Phone=phone).json()["CodeResult"])

    assert code("0901888484") == "99"
    assert code("84901888484") == "99"
    assert code("0901888489") == "777"
    assert code("0911111111") == "778"
    assert code("0911111119") == "779"
    assert code("0921111111") == "100"


def test_reset_forgets_calls_logs_scripts_and_request_ids(
    sim: EsmsSimulator, receiver: Receiver
) -> None:
    sim.script(PHONE, Script(reject_code="99"))
    make_call(sim, Phone="0912345678", RequestID="again", CallbackUrl=receiver.url())
    make_call(sim)
    assert sim.wait_for_callbacks(1, timeout=5)

    sim.reset()

    assert (sim.calls, sim.requests, sim.callback_deliveries) == ({}, [], [])
    assert sim.balance == 1_000_000_000
    assert make_call(sim, RequestID="again").json()["CodeResult"] == "100"
    assert make_call(sim).json()["CodeResult"] == "100"
    assert not sim.wait_for_callbacks(1, timeout=0.01)


def test_script_refuses_unknown_failure_kinds_and_callback_modes() -> None:
    with pytest.raises(ValueError, match="unknown failure kinds"):
        Script(failures=["explode"])
    with pytest.raises(ValueError, match="unknown callbacks mode"):
        Script(callbacks="twice")


# Callbacks


def test_callback_carries_the_documented_params(sim: EsmsSimulator, receiver: Receiver) -> None:
    smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(1, timeout=5)

    path, query = receiver.hits[0]
    assert path == "/esms/callback/4f1c/token/"
    assert [name for name, _ in query] == CALLBACK_PARAMS
    assert dict(query) == {
        "ReferenceId": smsid,
        "CallDuration": "13",
        "CallStatus": "ANSWERED",
        "Ivr": "",
        "Price": "500.0000",
        "SentResult": "1",
        "CID": "02871002454",
        "SendStatus": "5",
    }
    delivery = sim.callback_deliveries[0]
    assert (delivery.smsid, delivery.attempt, delivery.status, delivery.error) == (
        smsid,
        1,
        200,
        None,
    )
    assert delivery.params == dict(query)
    assert sim.calls[smsid].callback_url == receiver.url()


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.failed(), {"CallDuration": "0", "CallStatus": "", "Price": "0.0000"}),
        (Outcome.no_answer(), {"CallDuration": "0", "CallStatus": "NO ANSWER", "SentResult": "1"}),
        (Outcome.answered(ivr="1", duration=42), {"CallDuration": "42", "Ivr": "1"}),
    ],
)
def test_callback_reports_the_scripted_outcome(
    sim: EsmsSimulator, receiver: Receiver, outcome: Outcome, expected: dict[str, str]
) -> None:
    sim.script(PHONE, Script(outcome=outcome))
    smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(1, timeout=5)

    query = receiver.queries()[0]
    assert {key: query[key] for key in expected} == expected
    if outcome.sent_result == 0:
        assert query["SentResult"] == "0"
        assert query["SendStatus"] == "5"


def test_final_state_shows_in_send_status_when_the_callback_is_due(receiver: Receiver) -> None:
    with EsmsSimulator(callback_delay=0.3) as sim:
        smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

        assert send_status(sim, smsid)["SendStatus"] == 7
        assert receiver.hits == []
        assert sim.wait_for_callbacks(1, timeout=5)
        assert send_status(sim, smsid)["SendStatus"] == 5
        call = sim.calls[smsid]
        assert call.final_at is not None
        assert call.final_at - call.accepted_at == pytest.approx(0.3)


def test_callback_is_retried_until_answered_200(sim: EsmsSimulator) -> None:
    flaky = Receiver(statuses=[500, 500])
    try:
        smsid_of(make_call(sim, CallbackUrl=flaky.url()))

        assert sim.wait_for_callbacks(1, timeout=5)
        time.sleep(0.15)

        assert len(flaky.hits) == 3
        assert [(d.attempt, d.status) for d in sim.callback_deliveries] == [
            (1, 500),
            (2, 500),
            (3, 200),
        ]
    finally:
        flaky.stop()


def test_callback_is_retried_at_most_five_times(sim: EsmsSimulator) -> None:
    broken = Receiver(always=500)
    try:
        smsid_of(make_call(sim, CallbackUrl=broken.url()))

        assert wait_until(lambda: len(sim.callback_deliveries) >= 6)
        time.sleep(0.3)

        assert len(broken.hits) == 6
        assert [d.attempt for d in sim.callback_deliveries] == [1, 2, 3, 4, 5, 6]
        assert not sim.wait_for_callbacks(1, timeout=0.01)
    finally:
        broken.stop()


def test_callback_connection_errors_are_retried(sim: EsmsSimulator) -> None:
    smsid_of(make_call(sim, CallbackUrl=f"http://127.0.0.1:{free_port()}/cb/"))

    assert wait_until(lambda: len(sim.callback_deliveries) >= 6)
    time.sleep(0.3)

    assert len(sim.callback_deliveries) == 6
    assert all(d.status is None and d.error for d in sim.callback_deliveries)


@pytest.mark.parametrize(
    ("callbacks", "progress", "expected"),
    [
        ("normal", False, ["5"]),
        ("normal", True, ["7", "5"]),
        ("duplicate", False, ["5", "5"]),
        ("out_of_order", False, ["5", "7"]),
        ("none", False, []),
    ],
)
def test_callback_modes(
    sim: EsmsSimulator,
    receiver: Receiver,
    callbacks: str,
    progress: bool,
    expected: list[str],
) -> None:
    sim.default = Script(callbacks=callbacks, progress_callback=progress)
    smsid = smsid_of(make_call(sim, CallbackUrl=receiver.url()))

    assert sim.wait_for_callbacks(len(expected), timeout=5)
    time.sleep(0.2)

    queries = receiver.queries()
    assert [query["SendStatus"] for query in queries] == expected
    assert all(query["ReferenceId"] == smsid for query in queries)
    for query in queries:
        if query["SendStatus"] == "7":
            assert (query["CallStatus"], query["CallDuration"]) == ("", "0")
    if callbacks == "duplicate":
        assert queries[0] == queries[1]
    assert send_status(sim, smsid)["SendStatus"] == 5


def test_a_thousand_calls_with_callbacks_use_a_bounded_number_of_threads(
    receiver: Receiver,
) -> None:
    baseline = threading.active_count()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, threading.active_count())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with (
        EsmsSimulator(callback_delay=0.05) as sim,
        requests.Session() as session,
    ):
        for index in range(1000):
            response = make_call(
                sim, session=session, RequestID=f"bulk-{index}", CallbackUrl=receiver.url()
            )
            assert response.json()["CodeResult"] == "100"
        assert sim.wait_for_callbacks(1000, timeout=20)
        done.set()
        sampler.join()

        assert len(sim.accepted()) == 1000
        assert len(receiver.hits) == 1000
    assert peak - baseline <= 40, (baseline, peak)


# Lifecycle, secrets, entry points


def test_stop_is_idempotent_and_frees_the_port() -> None:
    sim = EsmsSimulator().start()
    url = sim.base_url
    assert sim.balance_url == url
    assert url == f"http://127.0.0.1:{sim.port}/MainService.svc/json/"

    sim.stop()
    sim.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(url + "GetSendStatus", timeout=1)


def test_stop_does_not_wait_for_stalled_requests() -> None:
    sim = EsmsSimulator(stall_seconds=30).start()
    sim.default = Script(failures=["timeout"])
    with pytest.raises(requests.ReadTimeout):
        make_call(sim, timeout=0.2)

    started = time.monotonic()
    sim.stop()

    assert time.monotonic() - started < 2


def test_credentials_are_never_printed(capfd: pytest.CaptureFixture[str]) -> None:
    keys = {"ApiKey": "key-7f3a", "SecretKey": "secret-9c1e"}
    with EsmsSimulator(api_key=keys["ApiKey"], secret_key=keys["SecretKey"]) as sim:
        sim.script("0912345678", Script(failures=["drop", "http_500"]))
        ok = make_call(sim, extra=keys)
        make_call(sim, ApiKey="wrong")
        with pytest.raises(requests.ConnectionError):
            make_call(sim, Phone="0912345678", extra=keys)
        make_call(sim, Phone="0912345678", extra=keys)
        send_status(sim, smsid_of(ok), **keys)
        requests.post(sim.balance_url + "GetBalance_json", json=keys, timeout=5)
        logged = repr(sim.requests) + repr(sim.calls) + repr(sim.accepted())

    out, err = capfd.readouterr()
    for secret in keys.values():
        assert secret not in out + err + logged


def subprocess_env() -> dict[str, str]:
    """Return an environment that imports the package from this checkout."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONUNBUFFERED", None)  # as under tox: output to a pipe is block-buffered
    return env


def started_in_background() -> None:
    """Start the child as a shell's background job would: with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_with_ctrl_c(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Send Ctrl-C and collect the output; kill the process if it does not stop in time."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("the simulator did not stop on Ctrl-C") from None


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    """Read the process's stdout until marker appears (or it ends); fail after 20 s."""
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + 20
    # Raw reads from the pipe: a buffered readline() would hide data from select().
    while marker.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            process.kill()
            raise AssertionError(f"no {marker!r} on stdout within 20 s; got {seen!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return seen.decode()


@pytest.mark.parametrize(
    "module", ["django_esms_voice.testing.simulator", "django_esms_voice.simulator"]
)
def test_simulator_module_imports_no_django(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(), cwd=ROOT)  # noqa: S603


@pytest.mark.parametrize(
    "module", ["django_esms_voice.testing.simulator", "django_esms_voice.simulator"]
)
def test_module_runs_standalone_until_ctrl_c(module: str) -> None:
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port)]
    with subprocess.Popen(  # noqa: S603
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**subprocess_env(), "ESMS_VOICE_SECRET_KEY": "from-env-5d2b"},
        cwd=ROOT,
        preexec_fn=started_in_background,  # Ctrl-C must work even so
    ) as process:
        banner = read_until(process, "BALANCE_URL")
        base_url = f"http://127.0.0.1:{port}/MainService.svc/json/"
        body = {"ApiKey": "test-key", "SecretKey": "from-env-5d2b"}
        balance = requests.post(base_url + "GetBalance_json", json=body, timeout=5)
        out, err = stop_with_ctrl_c(process)

    assert base_url in banner
    assert balance.json()["CodeResponse"] == "100"
    assert process.returncode == 0, err
    assert "from-env-5d2b" not in banner + out + err


COMMAND_SCRIPT = """
import sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[],
    ESMS_VOICE={"API_KEY": "settings-key-1b", "SECRET_KEY": "settings-secret-2c"},
)
django.setup()
from django_esms_voice.management.commands.esms_voice_simulator import Command
Command().run_from_argv(["manage.py", "esms_voice_simulator", *sys.argv[1:]])
"""


def test_management_command_serves_with_the_settings_credentials() -> None:
    port = free_port()
    command = [sys.executable, "-c", COMMAND_SCRIPT, "--port", str(port), "--outcome", "failed"]
    with subprocess.Popen(  # noqa: S603
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
        preexec_fn=started_in_background,  # Ctrl-C must work even so
    ) as process:
        banner = read_until(process, "BALANCE_URL")
        base_url = f"http://127.0.0.1:{port}/MainService.svc/json/"
        keys = {"ApiKey": "settings-key-1b", "SecretKey": "settings-secret-2c"}
        balance = requests.post(base_url + "GetBalance_json", json=keys, timeout=5)
        refused = requests.post(base_url + "GetBalance_json", json=KEYS, timeout=5)
        busy = subprocess.run(  # noqa: S603
            [sys.executable, "-c", COMMAND_SCRIPT, "--port", str(port)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            cwd=ROOT,
            timeout=30,
        )
        out, err = stop_with_ctrl_c(process)

    assert f'ESMS_VOICE["BASE_URL"] = "{base_url}"' in banner
    assert f'ESMS_VOICE["BALANCE_URL"] = "{base_url}"' in banner
    assert balance.json()["CodeResponse"] == "100"
    assert refused.json()["CodeResponse"] == "101"
    assert process.returncode == 0, err
    assert busy.returncode == 1
    assert "already in use" in busy.stderr
    assert "settings-secret-2c" not in banner + out + err + busy.stdout + busy.stderr
