"""The simulator's scripted failures, latency and scripts: what a phone's calls meet."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from django_esms_voice.testing.simulator import EsmsSimulator, Script
from tests.testing.simulator_helpers import (
    PHONE,
    Receiver,
    make_call,
)

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
